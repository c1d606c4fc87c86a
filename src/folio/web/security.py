"""Security headers on every folio-web response: a self-only CSP, nosniff, referrer, framing.

Every page, error page, static file and JSON answer gets the same headers. A header a
route set itself wins (the status page's stricter ``Referrer-Policy: no-referrer``), so
nothing is sent twice or weakened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Only the site's own files run, style or load: the templates have no inline script or
# style (tests/reliability/test_security_headers.py checks), rum.js beacons to /api/rum on
# this origin, and status.js fetches /status/data/* here. Nothing needs data: or a third
# party: markdown images may only be http(s) or relative, and an outside image is not shown.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
ResponseT = TypeVar("ResponseT", bound=Response)

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    # frame-ancestors replaces it in current browsers; older ones only know this one.
    ("X-Frame-Options", "DENY"),
)


class SecurityHeadersMiddleware:
    """Adds each of ``headers`` to an HTTP response that does not carry it already."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[str, str]] = SECURITY_HEADERS) -> None:
        self.app = app
        self.headers = [(name.lower().encode(), value.encode()) for name, value in headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and websockets have no response headers
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [pair for pair in self.headers if pair[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Add the headers to every response the app's middleware stack sends."""
    app.add_middleware(SecurityHeadersMiddleware)


def add_to(response: ResponseT) -> ResponseT:
    """The headers on a response sent past the middleware: Starlette's 500 page is one."""
    for name, value in SECURITY_HEADERS:
        response.headers.setdefault(name, value)
    return response
