"""Static assets: versioned URLs from content hashes, and cache headers to match."""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.parse import parse_qs

from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"public, max-age=300"
# A ?v= that is not the file's hash here: another release's URL (a rolling deploy sends
# a new page's asset request to an old instance, or the reverse). What this instance holds
# is not that version, so no cache may keep it under that URL.
WRONG_VERSION = b"no-store"


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
        """The ASGI app that serves the files under /static."""
        return CachedStaticFiles(directory=self.directory, versions=self.versions)


class CachedStaticFiles(StaticFiles):
    """StaticFiles that lets browsers keep URLs of the current version for a year."""

    def __init__(self, *, directory: Path, versions: dict[str, str]) -> None:
        super().__init__(directory=directory)
        self.versions = versions

    def policy(self, scope: Scope) -> bytes:
        """Cache-Control for this request: by whether its ?v= is this file's hash."""
        asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v")
        if not asked:
            return REVALIDATE
        name = self.get_path(scope).replace("\\", "/")
        return IMMUTABLE if asked == [self.versions.get(name)] else WRONG_VERSION

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        policy = self.policy(scope)

        async def send_with_cache_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                message["headers"] = [*message.get("headers", []), (b"cache-control", policy)]
            await send(message)

        await super().__call__(scope, receive, send_with_cache_headers)
