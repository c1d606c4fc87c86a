"""folio-api's Swagger UI at /api/docs, served from vendored files under a strict CSP.

FastAPI's own docs page loads Swagger UI from a CDN and starts it with an inline script, so
it is blank offline and cannot run under a CSP that forbids inline script. This page loads
the copy that scripts/vendor-swagger-ui.sh put in static/vendor/ and starts it from
static/docs.js, so every byte comes from folio-api itself.
"""

from __future__ import annotations

import hashlib
from functools import cache
from html import escape
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

DOCS_PATH = "/api/docs"
STATIC_PATH = "/api/docs/static"
STATIC_DIR = Path(__file__).parent / "static"
# What the page loads, in order; each one's URL carries a hash of its content.
STYLESHEET = "vendor/swagger-ui.css"
FAVICON = "vendor/swagger-ui-favicon.png"
SCRIPTS = ("vendor/swagger-ui-bundle.js", "docs.js")

# Only folio-api's own files run or style the page. Swagger UI's CSS draws its icons from
# data: URIs, and "Try it out" calls this same origin, so nothing else is allowed.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # frame-ancestors replaces it in current browsers; older ones only know this one.
    "X-Frame-Options": "DENY",
}
IMMUTABLE = b"public, max-age=31536000, immutable"

router = APIRouter(include_in_schema=False)


@cache
def asset_url(name: str) -> str:
    """``/api/docs/static/<name>?v=<hash>``: a new Swagger UI version gets new URLs."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PATH}/{name}?v={digest}"


def render_page(title: str, openapi_url: str) -> str:
    """The docs page: no inline script or style, only same-origin assets."""
    scripts = "\n".join(f'<script src="{asset_url(name)}"></script>' for name in SCRIPTS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="stylesheet" href="{asset_url(STYLESHEET)}">
<link rel="icon" type="image/png" href="{asset_url(FAVICON)}">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
{scripts}
</body>
</html>
"""


@router.get(DOCS_PATH, response_class=HTMLResponse)
async def docs_page(request: Request) -> HTMLResponse:
    """Swagger UI for the app's OpenAPI document."""
    app: FastAPI = request.app
    page = render_page(f"{app.title} - API docs", app.openapi_url or "")
    return HTMLResponse(page, headers=PAGE_HEADERS)


class DocsStaticFiles(StaticFiles):
    """The page's files: nosniff always, and a year of caching for hash-versioned URLs."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        versioned = b"v=" in scope.get("query_string", b"")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]
                if versioned and message["status"] in (200, 304):
                    headers.append((b"cache-control", IMMUTABLE))
                message = {**message, "headers": headers}
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Serve the docs page and its files; the app must have its own docs_url switched off."""
    app.include_router(router)
    # A mount, so the metrics label every file with the one template /api/docs/static/{path}.
    app.mount(STATIC_PATH, DocsStaticFiles(directory=STATIC_DIR), name="docs-static")
