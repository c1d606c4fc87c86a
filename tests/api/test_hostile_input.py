"""Hostile and racy input gets a 4xx and never a 500 or a partial write."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.factories import project_payload


async def test_auth_is_checked_before_the_body(client: httpx.AsyncClient) -> None:
    """Broken JSON without a token is 401, not 400: the body is not read for strangers."""
    headers = {"Content-Type": "application/json"}
    response = await client.post("/api/projects", content=b"{broken", headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe not utf-8", b"[" * 100_000, b'{"slug": 1' + b"0" * 5000 + b"}", b""],
)
async def test_malformed_bodies_are_400_with_details(
    client: httpx.AsyncClient, auth: dict[str, str], body: bytes
) -> None:
    """Bad UTF-8, absurd nesting, huge numbers and empty bodies get 400 or 422 with details."""
    headers = {**auth, "Content-Type": "application/json"}
    response = await client.post("/api/projects", content=body, headers=headers)
    assert response.status_code in (400, 422)
    assert response.json()["error"]["details"]


@pytest.mark.parametrize("field", ["title", "summary", "body"])
async def test_nul_and_control_characters_are_422(
    client: httpx.AsyncClient, auth: dict[str, str], field: str
) -> None:
    """Text with NUL is refused on every backend, on create and on update."""
    create = await client.post(
        "/api/projects", json=project_payload("nul", **{field: "a\u0000b"}), headers=auth
    )
    assert create.status_code == 422
    await client.post("/api/projects", json=project_payload("clean"), headers=auth)
    update = await client.patch("/api/projects/clean", json={field: "x\u0007"}, headers=auth)
    assert update.status_code == 422


@pytest.mark.parametrize("slug", ["a%00b", "x" * 5000, "UPPER", "%F0%9F%92%A9"])
async def test_impossible_slugs_are_404_without_echo(client: httpx.AsyncClient, slug: str) -> None:
    """A slug that cannot exist is 404 and is not echoed back."""
    response = await client.get(f"/api/projects/{slug}")
    assert response.status_code == 404
    assert len(response.content) < 300


async def test_huge_offset_is_422(client: httpx.AsyncClient) -> None:
    """An offset past any database's integer range is refused, not sent to the database."""
    response = await client.get("/api/projects", params={"offset": 2**63})
    assert response.status_code == 422


async def test_racing_patch_and_delete_never_500(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Concurrent PATCHes and DELETEs of one project end in 2xx, 404 or 409, never 5xx."""
    statuses: list[int] = []
    for round_number in range(15):
        slug = f"race-{round_number}"
        await client.post("/api/projects", json=project_payload(slug), headers=auth)
        responses = await asyncio.gather(
            client.delete(f"/api/projects/{slug}", headers=auth),
            client.patch(f"/api/projects/{slug}", json={"tags": ["a", "b"]}, headers=auth),
            client.patch(f"/api/projects/{slug}", json={"title": "T"}, headers=auth),
        )
        statuses += [response.status_code for response in responses]
        assert (await client.get(f"/api/projects/{slug}", headers=auth)).status_code == 404
    assert max(statuses) < 500, statuses


async def test_head_on_health(client: httpx.AsyncClient) -> None:
    """Load balancers may probe with HEAD; it answers 200 like GET."""
    assert (await client.head("/api/health")).status_code == 200
