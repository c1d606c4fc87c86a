"""One access-log record per HTTP request, joinable to the metrics' exemplars.

The record carries the route template that folio_metrics resolved for the request (read
from the scope, not resolved again) and the trace id its exemplars carry, so a log search
for a slow request's trace id finds the line behind a histogram's exemplar.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time

from folio_metrics import ROUTE_SCOPE_KEY, SERVER_STATUS_SCOPE_KEY, trace_exemplar
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from folio.logs import ACCESS_LOGGER, FIELDS

logger = logging.getLogger(ACCESS_LOGGER)


class AccessLogMiddleware:
    """Logs each HTTP request once it has been answered; a logging failure is swallowed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except BaseException:
            status = status or 500  # as the metrics count a request that raised
            raise
        finally:
            # A request must never fail for its log line.
            with contextlib.suppress(Exception):
                # The server's own answer (a 408) wins over what the app sent into the void.
                status = scope.get(SERVER_STATUS_SCOPE_KEY, status)
                _log(scope, status, time.perf_counter() - started)


def _log(scope: Scope, status: int, seconds: float) -> None:
    client = scope.get("client")
    address = f"{client[0]}:{client[1]}" if client else "-"
    method = scope["method"]
    path = scope["path"]
    route = scope.get(ROUTE_SCOPE_KEY)
    exemplar = trace_exemplar(scope)
    fields = {
        "method": method,
        "route": route,
        "path": path,
        "status": status,
        "duration_seconds": round(seconds, 6),
        "trace_id": exemplar["trace_id"] if exemplar else None,
        "client": address,
    }
    # The path is the client's, decoded: quoted, so that a newline in it cannot forge a line.
    quoted = json.dumps(path, ensure_ascii=False)[1:-1]
    logger.info(
        '%s "%s %s HTTP/%s" %d %s %.1f ms',
        address,
        method,
        quoted,
        scope.get("http_version", "1.1"),
        status,
        route or "-",
        seconds * 1000,
        extra={FIELDS: fields},
    )
