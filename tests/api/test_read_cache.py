"""Cached reads: validators and Cache-Control, drafts kept apart, writes by any path seen,
and a cache that stays bounded. The same on the wire is in tests/test_read_after_write.py."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from folio.api.read_cache import Rendered, RenderedCache
from tests.factories import project_payload


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
