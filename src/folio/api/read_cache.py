"""Rendered JSON bodies kept per worker, and the HTTP validators (ETag, 304) sent with them."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from hashlib import blake2b
from typing import Any

from starlette.responses import Response

# Anyone may store a public read, but must ask again before each use (If-None-Match), so
# a project deleted or unpublished is never served from a cache, not even for a second.
PUBLIC = "public, no-cache"
# The caller with the token sees drafts: nothing on the way may keep those.
PRIVATE = "private, no-store"
NO_STORE = "no-store"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One response body, its strong ETag, and the content version it was built at."""

    body: bytes
    etag: str
    version: Hashable | None

    @classmethod
    def of(cls, body: bytes, version: Hashable | None) -> Rendered:
        """Tag ``body`` with a hash of itself, the same on every worker and instance."""
        return cls(body, f'"{blake2b(body, digest_size=12).hexdigest()}"', version)


class RenderedCache:
    """A bounded, least-recently-used map of bodies, all built at one content version.

    Bounded by entry count and by bytes, since a query string can name endless pages; a
    new version empties it at once rather than leaving dead bodies to age out.
    """

    def __init__(
        self,
        max_entries: int = 256,
        max_bytes: int = 16 * 1024 * 1024,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_body_bytes = min(max_body_bytes, max_bytes)
        self.version: Hashable | None = None
        self.bytes = 0
        self._entries: OrderedDict[Hashable, Rendered] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, version: Hashable) -> Rendered | None:
        """The body for ``key`` if it was built at ``version``, the version just read."""
        if version != self.version:
            self._reset(version)
            return None
        rendered = self._entries.get(key)
        if rendered is not None:
            self._entries.move_to_end(key)
        return rendered

    def put(self, key: Hashable, rendered: Rendered) -> None:
        """Keep ``rendered`` if it was built at the version last read, and is not too big."""
        # Another version means one read since (newer, most likely): keeping this body would
        # empty the cache and take it back to an older version.
        if rendered.version is None or rendered.version != self.version:
            return
        if len(rendered.body) > self.max_body_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old.body)
        self._entries[key] = rendered
        self.bytes += len(rendered.body)
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= len(evicted.body)

    def _reset(self, version: Hashable) -> None:
        self._entries.clear()
        self.bytes = 0
        self.version = version


def respond(if_none_match: str | None, rendered: Rendered, *, private: bool) -> Response:
    """200 with the body, or 304 without one when the client already holds this ETag."""
    headers = {
        "ETag": rendered.etag,
        "Cache-Control": PRIVATE if private else PUBLIC,
        # One URL answers differently with the token: a shared cache must key on it.
        "Vary": "Authorization",
    }
    if if_none_match is not None and etag_matches(if_none_match, rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, headers=headers, media_type="application/json")


def etag_matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's weak comparison, which If-None-Match uses: W/ is ignored, * matches."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def cached_read_responses() -> dict[int | str, dict[str, Any]]:
    """The OpenAPI headers of a cached read's 200, and its 304."""
    headers = {
        "ETag": {
            "description": "A strong validator of this body; send it back in If-None-Match",
            "schema": {"type": "string"},
        },
        "Cache-Control": {
            "description": f"'{PUBLIC}' without the token, '{PRIVATE}' with it",
            "schema": {"type": "string"},
        },
    }
    return {
        200: {"description": "Successful Response", "headers": headers},
        304: {
            "description": "Not Modified: If-None-Match names the current ETag; no body",
            "headers": headers,
        },
    }
