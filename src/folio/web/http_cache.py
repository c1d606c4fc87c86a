"""HTTP caching of the public pages: strong ETags, 304 answers and Cache-Control.

A page may be kept by browsers and shared caches (a CDN) but must be revalidated on each
use, so a write in folio-api shows on the next view while an unchanged page costs a 304.
Error and degraded pages are kept by no one: a 404 for a draft must not outlive its
publication, nor a 503 the outage.
"""

from __future__ import annotations

import hashlib

from starlette.responses import Response

PAGE_CACHE_CONTROL = "public, no-cache"
NO_STORE = "no-store"


def etag_of(body: bytes) -> str:
    """A strong ETag from the body's bytes: equal on every worker and instance."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def none_match(header: str | None, etag: str) -> bool:
    """Whether If-None-Match ``header`` names ``etag`` (weak comparison, as RFC 9110 asks)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == opaque for candidate in header.split(","))


def page_response(if_none_match: str | None, body: bytes, etag: str) -> Response:
    """The page as a 200, or a 304 without a body when the client holds this version."""
    headers = {"ETag": etag, "Cache-Control": PAGE_CACHE_CONTROL}
    if none_match(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/html", headers=headers)
