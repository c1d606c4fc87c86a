"""The ASGI app that serves a registry: negotiated format, gzip, optional bearer token.

A render never stalls requests for long: the scrape-time hooks and the merge across workers
run in a worker thread, then the text (or protobuf) is built on the event loop a few dozen
series at a time, compressing as it goes, with requests served between pieces.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Iterator

from folio_metrics.asgi import Receive, Scope, Send
from folio_metrics.bearer import bearer_matches
from folio_metrics.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    collect,
    render_bridged,
    render_chunks,
)
from folio_metrics.families import AnyFamily
from folio_metrics.negotiation import Format, accepts_gzip, negotiate
from folio_metrics.protobuf import PROTOBUF_CONTENT_TYPE, encode_bridged, protobuf_chunks
from folio_metrics.registry import MetricsRegistry

CONTENT_TYPES: dict[Format, str] = {
    "text": TEXT_CONTENT_TYPE,
    "openmetrics": OPENMETRICS_CONTENT_TYPE,
    "protobuf": PROTOBUF_CONTENT_TYPE,
}

# Level 1 compresses metrics text about 10x at a third of the default level's CPU.
GZIP_LEVEL = 1
GZIP_HEADER = 31  # zlib's wbits for a gzip header and trailer


class MetricsEndpoint:
    """Serves ``registry`` to GET and HEAD; concurrent scrapes share one render."""

    def __init__(
        self, registry: MetricsRegistry, *, token: str | None = None, refusal_hint: str = "token"
    ) -> None:
        """``refusal_hint`` is how a refused scraper is told where the token comes from."""
        self.registry = registry
        self.token = token or None
        self.refusal_hint = refusal_hint
        # Per format, the render that has not begun yet: scrapes arriving meanwhile share it.
        self._queued: dict[tuple[Format, bool], asyncio.Future[bytes]] = {}
        # Renders of different formats take turns: across workers, each merges into the
        # same families, which another render may still be reading on the loop.
        self._rendering = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {name.lower(): value.decode("latin-1") for name, value in scope["headers"]}
        if scope["method"] not in ("GET", "HEAD"):
            await _error(send, 405, "use GET or HEAD", {"allow": "GET, HEAD"})
            return
        authorization = headers.get(b"authorization", "")
        if self.token is not None and not bearer_matches(authorization, self.token):
            challenge = {"www-authenticate": 'Bearer realm="metrics"'}
            message = f"send 'Authorization: Bearer <{self.refusal_hint}>'"
            await _error(send, 401, message, challenge)
            return
        chosen = negotiate(headers.get(b"accept", ""))
        compressed = accepts_gzip(headers.get(b"accept-encoding", ""))
        body = await self._render(chosen, compressed)
        response_headers = [
            (b"content-type", CONTENT_TYPES[chosen].encode()),
            (b"cache-control", b"no-store"),
            (b"vary", b"Accept, Accept-Encoding"),
        ]
        if compressed:
            response_headers.append((b"content-encoding", b"gzip"))
        response_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body}
        )

    async def _render(self, chosen: Format, compressed: bool) -> bytes:
        """A render that begins after this scrape arrived, shared with others that wait.

        Joining a render already under way would hand this scrape values from before it
        came: a scrape that timed out leaves its render running, and the next scrape, sent
        after new requests, would be answered without them.
        """
        key = (chosen, compressed)
        queued = self._queued.get(key)
        if queued is None:
            queued = asyncio.ensure_future(self._render_when_free(key))
            self._queued[key] = queued
        return await asyncio.shield(queued)

    async def _render_when_free(self, key: tuple[Format, bool]) -> bytes:
        async with self._rendering:
            if self._queued.get(key) is asyncio.current_task():
                del self._queued[key]  # begun: later scrapes queue the next one
            return await self._render_now(*key)

    async def _render_now(self, chosen: Format, compressed: bool) -> bytes:
        self.registry.maintain()  # on the event loop, where this worker's series are updated
        families, bridged = await asyncio.to_thread(self._collect, chosen)
        compressor = (
            zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_HEADER) if compressed else None
        )
        parts = []
        for chunk in self._chunks(chosen, families, bridged):
            parts.append(compressor.compress(chunk) if compressor is not None else chunk)
            await asyncio.sleep(0)  # requests that are ready run before the next piece
        if compressor is not None:
            parts.append(compressor.flush())
        return b"".join(parts)

    def _chunks(self, chosen: Format, families: list[AnyFamily], bridged: bytes) -> Iterator[bytes]:
        if chosen == "protobuf":
            return protobuf_chunks(self.registry, families, bridged=bridged)
        openmetrics = chosen == "openmetrics"
        return render_chunks(self.registry, families, openmetrics=openmetrics, bridged=bridged)

    def _collect(self, chosen: Format) -> tuple[list[AnyFamily], bytes]:
        """In a worker thread: hooks, the merge, and the collectors that render themselves."""
        families = collect(self.registry)
        if chosen == "protobuf":
            return families, encode_bridged(self.registry)
        return families, render_bridged(self.registry, openmetrics=chosen == "openmetrics")


async def _error(send: Send, status: int, message: str, extra: dict[str, str]) -> None:
    code = {401: "unauthorized", 405: "method_not_allowed"}[status]
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name.encode(), value.encode()) for name, value in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
