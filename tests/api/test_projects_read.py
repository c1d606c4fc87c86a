"""Reading projects: list, pagination, tag filter, drafts, single project."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from tests.factories import project_payload


async def _create(
    client: httpx.AsyncClient, auth: dict[str, str], slug: str, **fields: object
) -> None:
    response = await client.post(
        "/api/projects", json=project_payload(slug, **fields), headers=auth
    )
    assert response.status_code == 201, response.text


async def test_list_is_empty_on_a_fresh_database(client: httpx.AsyncClient) -> None:
    """An empty database lists no projects and a total of 0."""
    response = await client.get("/api/projects")
    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "limit": 20, "offset": 0}


async def test_list_is_newest_first(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """Projects come back newest first."""
    for slug in ["first", "second", "third"]:
        await _create(client, auth, slug)
    response = await client.get("/api/projects")
    assert [item["slug"] for item in response.json()["items"]] == ["third", "second", "first"]


async def test_list_paginates_with_total(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """limit and offset select a page; total counts every match."""
    for index in range(5):
        await _create(client, auth, f"project-{index}")
    response = await client.get("/api/projects", params={"limit": 2, "offset": 1})
    page = response.json()
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 1)
    assert [item["slug"] for item in page["items"]] == ["project-3", "project-2"]
    beyond = await client.get("/api/projects", params={"offset": 10})
    assert beyond.json()["items"] == []
    assert beyond.json()["total"] == 5


async def test_list_filters_by_tag(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """tag= keeps only projects with that tag, and total counts only those."""
    await _create(client, auth, "py", tags=["python"])
    await _create(client, auth, "rs", tags=["rust"])
    await _create(client, auth, "both", tags=["rust", "python"])
    response = await client.get("/api/projects", params={"tag": "rust", "limit": 1})
    page = response.json()
    assert page["total"] == 2
    assert [item["slug"] for item in page["items"]] == ["both"]
    none = await client.get("/api/projects", params={"tag": "haskell"})
    assert none.json() == {"items": [], "total": 0, "limit": 20, "offset": 0}


async def test_drafts_are_hidden_without_the_token(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A draft is absent from the public list and its page is 404."""
    await _create(client, auth, "public")
    await _create(client, auth, "draft", published=False)
    public = await client.get("/api/projects")
    assert [item["slug"] for item in public.json()["items"]] == ["public"]
    assert public.json()["total"] == 1
    assert (await client.get("/api/projects/draft")).status_code == 404


async def test_drafts_are_visible_with_the_token(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """With the token, the list and the project page include drafts."""
    await _create(client, auth, "public")
    await _create(client, auth, "draft", published=False)
    listed = await client.get("/api/projects", headers=auth)
    assert [item["slug"] for item in listed.json()["items"]] == ["draft", "public"]
    single = await client.get("/api/projects/draft", headers=auth)
    assert single.status_code == 200
    assert single.json()["published"] is False


async def test_a_wrong_token_on_a_read_is_refused(client: httpx.AsyncClient) -> None:
    """A read with a wrong token is 401, not silently treated as anonymous."""
    response = await client.get("/api/projects", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_get_project_returns_every_field(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """GET /api/projects/{slug} returns the whole resource."""
    await _create(client, auth, "full")
    response = await client.get("/api/projects/full")
    assert response.status_code == 200
    project = response.json()
    expected = project_payload("full")
    for field in ["slug", "title", "summary", "body", "tags", "links", "published"]:
        assert project[field] == expected[field], field
    assert isinstance(project["id"], int)
    created_at = datetime.fromisoformat(project["created_at"])
    assert created_at.utcoffset() == timedelta(0)
    assert datetime.fromisoformat(project["updated_at"]) >= created_at


async def test_get_unknown_project_is_404(client: httpx.AsyncClient) -> None:
    """An unknown slug is 404 in the error shape."""
    response = await client.get("/api/projects/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "not_found",
            "message": "no project with slug 'no-such-thing'",
            "details": {"slug": "no-such-thing"},
        }
    }


async def test_bad_pagination_is_422(client: httpx.AsyncClient) -> None:
    """limit and offset outside their ranges, or not numbers, are 422 with the field named."""
    for params in [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "ten"}]:
        response = await client.get("/api/projects", params=params)
        assert response.status_code == 422, params
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["loc"] == ["query", next(iter(params))]
