"""Static assets: versioned URLs from content hashes, and cache headers to match."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"public, max-age=300"


class StaticAssets:
    """Knows every file under static/ and its content hash, read once at start-up."""

    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self.directory = directory
        self.versions = {
            path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()[
                :12
            ]
            for path in sorted(directory.rglob("*"))
            if path.is_file()
        }

    def url(self, name: str) -> str:
        """``/static/<name>?v=<hash>``; a changed file gets a new URL, so caches never go stale."""
        version = self.versions.get(name)
        if version is None:
            raise ValueError(f"no static asset named {name!r} under {self.directory}")
        return f"/static/{name}?v={version}"

    def app(self) -> CachedStaticFiles:
        return CachedStaticFiles(directory=self.directory)


class CachedStaticFiles(StaticFiles):
    """StaticFiles that lets browsers keep versioned URLs for a year."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        versioned = b"v=" in scope.get("query_string", b"")

        async def send_with_cache_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                policy = IMMUTABLE if versioned else REVALIDATE
                message["headers"] = [*message.get("headers", []), (b"cache-control", policy)]
            await send(message)

        await super().__call__(scope, receive, send_with_cache_headers)
