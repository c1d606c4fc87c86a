"""The ASGI app that serves a registry: negotiated format, gzip, optional bearer token."""

from __future__ import annotations

import asyncio
import gzip
import hmac
import json

from starlette.types import Receive, Scope, Send

from folio.metrics.exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, render
from folio.metrics.negotiation import accepts_gzip, wants_openmetrics
from folio.metrics.registry import MetricsRegistry

# Small payloads are not worth the CPU; Prometheus scrapes are usually far bigger.
GZIP_MIN_BYTES = 1024


class MetricsEndpoint:
    """Serves ``registry`` to GET and HEAD; renders in a worker thread, one render at a time."""

    def __init__(self, registry: MetricsRegistry, *, token: str | None = None) -> None:
        self.registry = registry
        self.token = token.encode() if token else None
        self._renders: dict[bool, asyncio.Future[bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {name.lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if scope["method"] not in ("GET", "HEAD"):
            await _error(send, 405, "use GET or HEAD", {"allow": "GET, HEAD"})
            return
        if self.token is not None and not self._authorized(headers.get(b"authorization", "")):
            challenge = {"www-authenticate": 'Bearer realm="metrics"'}
            await _error(send, 401, "send 'Authorization: Bearer <FOLIO_METRICS_TOKEN>'", challenge)
            return
        openmetrics = wants_openmetrics(headers.get(b"accept", ""))
        body = await self._render(openmetrics)
        response_headers = [
            (
                b"content-type",
                (OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE).encode(),
            ),
            (b"cache-control", b"no-store"),
            (b"vary", b"Accept, Accept-Encoding"),
        ]
        if len(body) >= GZIP_MIN_BYTES and accepts_gzip(headers.get(b"accept-encoding", "")):
            body = await asyncio.to_thread(gzip.compress, body, 6)
            response_headers.append((b"content-encoding", b"gzip"))
        response_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _render(self, openmetrics: bool) -> bytes:
        # Concurrent scrapes share one render instead of each paying for their own.
        pending = self._renders.get(openmetrics)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.ensure_future(
            asyncio.to_thread(render, self.registry, openmetrics=openmetrics)
        )
        self._renders[openmetrics] = future
        try:
            return await asyncio.shield(future)
        finally:
            if self._renders.get(openmetrics) is future:
                del self._renders[openmetrics]

    def _authorized(self, authorization: str) -> bool:
        scheme, _, credentials = authorization.partition(" ")
        assert self.token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credentials.strip().encode(), self.token
        )


async def _error(send: Send, status: int, message: str, extra: dict[str, str]) -> None:
    code = {401: "unauthorized", 405: "method_not_allowed"}[status]
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.encode(), value.encode()) for name, value in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
