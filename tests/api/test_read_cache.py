"""Cached reads: validators and Cache-Control, drafts kept apart, writes by any path seen,
and a cache that stays bounded. The same on the wire is in tests/test_read_after_write.py."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from folio.api.app import create_app
from folio.api.content_version import VersionProbe
from folio.api.db import create_engine
from folio.api.migrate import upgrade
from folio.api.read_cache import Rendered, RenderedCache
from folio.api.settings import ApiSettings
from tests.conftest import TOKEN
from tests.factories import project_payload

_PROBE_QUERY = "SELECT version FROM content_version%"


async def _create(
    client: httpx.AsyncClient, auth: dict[str, str], slug: str, **fields: object
) -> None:
    response = await client.post(
        "/api/projects", json=project_payload(slug, **fields), headers=auth
    )
    assert response.status_code == 201, response.text


async def test_reads_carry_an_etag_and_answer_304_to_it(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A strong ETag on the list and a project; If-None-Match with it (alone, weak, in a
    list, or *) gets 304 with the same ETag and no body; another ETag gets the body."""
    await _create(client, auth, "cached")
    for path in ("/api/projects", "/api/projects?limit=5&tag=python", "/api/projects/cached"):
        first = await client.get(path)
        etag = first.headers["etag"]
        assert etag.startswith('"')
        assert first.headers["cache-control"] == "public, no-cache"
        assert first.headers["vary"] == "Authorization"
        for sent in (etag, f"W/{etag}", f'"stale", {etag}', "*"):
            again = await client.get(path, headers={"If-None-Match": sent})
            assert again.status_code == 304, sent
            assert again.content == b""
            assert again.headers["etag"] == etag
        other = await client.get(path, headers={"If-None-Match": '"stale"'})
        assert other.status_code == 200
        assert other.json() == first.json()


async def test_a_write_changes_the_etag(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """After a PATCH, the old ETag no longer matches and the new body is served."""
    await _create(client, auth, "changing", title="Before")
    etag = (await client.get("/api/projects/changing")).headers["etag"]
    patched = await client.patch("/api/projects/changing", json={"title": "After"}, headers=auth)
    assert patched.status_code == 200
    after = await client.get("/api/projects/changing", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.json()["title"] == "After"
    assert after.headers["etag"] != etag


async def test_drafts_never_reach_anonymous_callers_through_the_cache(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """The token's reads (private, no-store) are cached apart: an anonymous read of the same
    URLs right after gets no draft, even when it sends the token's ETag."""
    await _create(client, auth, "public")
    await _create(client, auth, "secret", published=False)
    mine = await client.get("/api/projects", headers=auth)
    assert {item["slug"] for item in mine.json()["items"]} == {"public", "secret"}
    assert mine.headers["cache-control"] == "private, no-store"
    draft = await client.get("/api/projects/secret", headers=auth)
    assert draft.status_code == 200
    public = await client.get("/api/projects", headers={"If-None-Match": mine.headers["etag"]})
    assert public.status_code == 200
    assert {item["slug"] for item in public.json()["items"]} == {"public"}
    hidden = await client.get(
        "/api/projects/secret", headers={"If-None-Match": draft.headers["etag"]}
    )
    assert hidden.status_code == 404


async def test_errors_are_never_stored(client: httpx.AsyncClient) -> None:
    """404 and 422 answers say no-store and carry no ETag."""
    for path in ("/api/projects/missing", "/api/projects?limit=0"):
        response = await client.get(path)
        assert response.status_code in {404, 422}
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers


async def test_writes_outside_the_api_are_seen(app: FastAPI, client: httpx.AsyncClient) -> None:
    """SQL run by hand bumps the content version too (triggers): the next read sees it,
    with the app's lifespan running, so through the probe's held connection."""
    async with app.router.lifespan_context(app):
        auth = {"Authorization": "Bearer test-token-0123456789"}
        await _create(client, auth, "by-hand", title="Before")
        assert (await client.get("/api/projects/by-hand")).json()["title"] == "Before"
        async with app.state.engine.begin() as connection:
            await connection.execute(text("UPDATE projects SET title = 'After'"))
        assert (await client.get("/api/projects/by-hand")).json()["title"] == "After"
        async with app.state.engine.begin() as connection:
            await connection.execute(text("DELETE FROM project_tags"))
            await connection.execute(text("DELETE FROM projects"))
        assert (await client.get("/api/projects/by-hand")).status_code == 404
        assert (await client.get("/api/projects")).json()["total"] == 0


async def test_many_distinct_queries_keep_the_cache_bounded(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """More distinct list pages than the cache holds: it keeps only its maximum."""
    cache: RenderedCache = app.state.reads.cache
    for offset in range(cache.max_entries + 40):
        assert (await client.get(f"/api/projects?offset={offset}")).status_code == 200
    assert len(cache) == cache.max_entries
    assert cache.bytes <= cache.max_bytes


def test_the_cache_is_bounded_in_bytes_and_drops_old_versions() -> None:
    """Bytes bound the cache as well as entries; a body over the limit is not kept; a new
    version empties it."""
    cache = RenderedCache(max_entries=100, max_bytes=1000, max_body_bytes=400)
    assert cache.get(0, 7) is None
    for index in range(10):
        cache.put(index, Rendered.of(b"x" * 300, version=7))
    assert len(cache) == 3
    assert cache.bytes == 900
    assert cache.get(9, 7) is not None
    assert cache.get(0, 7) is None  # evicted, least recently used
    cache.put("big", Rendered.of(b"x" * 401, version=7))
    assert cache.get("big", 7) is None
    assert cache.get(9, 8) is None
    assert len(cache) == 0


def test_the_openapi_document_describes_the_validators(app: FastAPI) -> None:
    """Both reads document If-None-Match, the ETag header, and the 304 answer."""
    document = app.openapi()
    for path in ("/api/projects", "/api/projects/{slug}"):
        operation = document["paths"][path]["get"]
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert "If-None-Match" in names
        assert "ETag" in operation["responses"]["200"]["headers"]
        assert "ETag" in operation["responses"]["304"]["headers"]
        assert "content" not in operation["responses"]["304"]


def test_a_body_from_an_older_version_never_replaces_the_newer_ones() -> None:
    """A slow build that read version 7 finishes after version 8 was cached: it is dropped,
    and the bodies of version 8 stay."""
    cache = RenderedCache()
    assert cache.get("a", 8) is None
    cache.put("a", Rendered.of(b"new", version=8))
    cache.put("b", Rendered.of(b"old", version=7))
    assert cache.get("b", 8) is None
    assert cache.get("a", 8) is not None
    assert cache.version == 8


async def test_a_sqlite_file_replaced_while_serving_is_read(tmp_path: Path) -> None:
    """A backup moved over the database file (os.replace), even one with the same content
    version, is what the next read shows: nothing cached from the old file is served."""
    path = tmp_path / "folio.db"
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    app = create_app(ApiSettings(database_url=url, api_token=TOKEN))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client,
    ):
        await _create(client, auth, "restored", title="Before")
        assert (await client.get("/api/projects/restored")).json()["title"] == "Before"
        backup = tmp_path / "backup.db"
        with sqlite3.connect(path) as source, sqlite3.connect(backup) as target:
            source.backup(target)
            (version,) = target.execute("SELECT version FROM content_version").fetchone()
            target.execute("UPDATE projects SET title = 'After'")
            # A restore can carry the very number the old file had.
            target.execute("UPDATE content_version SET version = ?", (version,))
        target.close()
        source.close()
        os.replace(backup, path)
        assert (await client.get("/api/projects/restored")).json()["title"] == "After"


async def test_a_cancelled_round_leaves_no_reader_waiting(database_url: str) -> None:
    """A round cancelled mid-read (its caller queued behind it gets cancelled too): the
    next read still gets an answer rather than waiting forever."""
    engine = create_engine(database_url)
    probe = VersionProbe(engine)
    try:
        first = asyncio.ensure_future(probe.current())
        await asyncio.sleep(0)
        second = asyncio.ensure_future(probe.current())
        await asyncio.sleep(0)
        rounds = probe._rounds
        assert rounds is not None
        assert not rounds.done()
        rounds.cancel()
        for waiter in (first, second):
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(waiter, 2)
        assert isinstance(await asyncio.wait_for(probe.current(), 2), int)
    finally:
        await probe.stop()
        await engine.dispose()


def postgres_only(test: Any) -> Any:
    """The probe holds a server connection only on PostgreSQL: ``test`` runs there alone."""
    on_postgres = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    return pytest.mark.postgres(on_postgres(test))


@postgres_only
async def test_a_hung_version_read_times_out(database_url: str) -> None:
    """A version read stuck behind a lock gives up after the probe's timeout, and the
    probe reads again once the lock is gone."""
    engine = create_engine(database_url)
    probe = VersionProbe(engine, timeout=0.3)
    await probe.start()
    try:
        await probe.current()
        async with engine.connect() as locker:
            await locker.execute(text("LOCK TABLE content_version IN ACCESS EXCLUSIVE MODE"))
            read = asyncio.ensure_future(probe.current())
            await asyncio.wait({read}, timeout=5)
            assert read.done()
            assert isinstance(read.exception(), TimeoutError)
            await locker.rollback()
        assert isinstance(await asyncio.wait_for(probe.current(), 5), int)
        await asyncio.wait_for(probe.stop(), 5)
    finally:
        await probe.stop()
        await engine.dispose()


@postgres_only
async def test_a_reconnected_probe_serves_nothing_cached_before(app: FastAPI) -> None:
    """After the probe's connection is lost and reopened, bodies cached before are not
    served, even when the content version reads the same as it did (a restore)."""
    transport = httpx.ASGITransport(app=app)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client,
    ):
        await _create(client, auth, "reconnect", title="Before")
        assert (await client.get("/api/projects/reconnect")).json()["title"] == "Before"
        async with app.state.engine.begin() as connection:
            version = (
                await connection.execute(text("SELECT version FROM content_version"))
            ).scalar_one()
            await connection.execute(text("UPDATE projects SET title = 'After'"))
            await connection.execute(
                text("UPDATE content_version SET version = :v"), {"v": version}
            )
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE :q AND pid <> pg_backend_pid()"
                ),
                {"q": _PROBE_QUERY},
            )
        for _ in range(2):  # the first may meet the dead connection and build uncached
            assert (await client.get("/api/projects/reconnect")).json()["title"] == "After"
