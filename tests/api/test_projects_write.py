"""Creating, updating and deleting projects, and that bad input never writes."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.factories import project_payload
from tests.processes import counter


async def _create(client: httpx.AsyncClient, auth: dict[str, str], slug: str) -> httpx.Response:
    response = await client.post("/api/projects", json=project_payload(slug), headers=auth)
    assert response.status_code == 201, response.text
    return response


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def _fetch(client: httpx.AsyncClient, auth: dict[str, str], slug: str) -> httpx.Response:
    return await client.get(f"/api/projects/{slug}", headers=auth)


async def test_create_returns_201_with_location(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """POST answers 201, a Location header that resolves, and the stored project."""
    response = await _create(client, auth, "new-one")
    assert response.headers["location"] == "/api/projects/new-one"
    assert response.json()["slug"] == "new-one"
    fetched = await client.get(response.headers["location"])
    assert fetched.json() == response.json()


async def test_create_applies_defaults(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """Only slug and title are required; the rest default sensibly (a draft)."""
    response = await client.post(
        "/api/projects", json={"slug": "minimal", "title": "Minimal"}, headers=auth
    )
    assert response.status_code == 201
    project = response.json()
    assert project["summary"] == project["body"] == ""
    assert project["tags"] == []
    assert project["links"] == {"repository": None, "demo": None}
    assert project["published"] is False


async def test_duplicate_tags_are_collapsed(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Tags keep their order and lose repeats."""
    payload = project_payload("tagged", tags=["b", "a", "b"])
    response = await client.post("/api/projects", json=payload, headers=auth)
    assert response.json()["tags"] == ["b", "a"]


async def test_duplicate_slug_is_409(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """A second project with the same slug is 409 and the first is untouched."""
    first = await _create(client, auth, "taken")
    payload = project_payload("taken", title="Impostor")
    response = await client.post("/api/projects", json=payload, headers=auth)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert (await _fetch(client, auth, "taken")).json() == first.json()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("slug", "Not A Slug"),
        ("slug", "trailing-"),
        ("slug", ""),
        ("title", ""),
        ("title", "x" * 201),
        ("tags", ["UPPER"]),
        ("tags", [f"t{index}" for index in range(21)]),
        ("links", {"repository": "not a url"}),
        ("links", {"homepage": "https://example.com"}),
        ("links", {"repository": " https://example.com"}),
        ("links", {"demo": "http:/example.com"}),
        ("links", {"demo": "https://example.com/" + "x" * 2064}),
        ("published", "sometimes"),
        ("id", 7),
    ],
)
async def test_invalid_create_is_422_and_writes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], field: str, value: object
) -> None:
    """Each invalid field is named in a 422 and no project appears."""
    payload = {**project_payload("invalid"), field: value}
    response = await client.post("/api/projects", json=payload, headers=auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(field in problem["loc"] for problem in error["details"]), error
    assert (await client.get("/api/projects", headers=auth)).json()["total"] == 0


async def test_body_must_be_an_object(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """A JSON array instead of an object is 422."""
    response = await client.post("/api/projects", json=[1, 2], headers=auth)
    assert response.status_code == 422


async def test_patch_changes_only_what_is_sent(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """PATCH updates the given fields, keeps the rest and moves updated_at."""
    before = (await _create(client, auth, "patched")).json()
    response = await client.patch(
        "/api/projects/patched",
        json={"title": "New title", "tags": ["fastapi", "sqlalchemy"], "links": {}},
        headers=auth,
    )
    assert response.status_code == 200
    after = response.json()
    assert after["title"] == "New title"
    assert after["tags"] == ["fastapi", "sqlalchemy"]
    assert after["links"] == {"repository": None, "demo": None}
    assert (after["summary"], after["body"]) == (before["summary"], before["body"])
    assert after["created_at"] == before["created_at"]
    assert _time(after["updated_at"]) > _time(before["updated_at"])
    assert (await _fetch(client, auth, "patched")).json() == after


async def test_patch_can_rename_the_slug(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """A new slug moves the project; the old slug is then 404."""
    await _create(client, auth, "old-name")
    response = await client.patch("/api/projects/old-name", json={"slug": "new-name"}, headers=auth)
    assert response.status_code == 200
    assert (await _fetch(client, auth, "new-name")).status_code == 200
    assert (await _fetch(client, auth, "old-name")).status_code == 404


async def test_patch_to_a_taken_slug_is_409(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Renaming onto another project's slug is 409 and changes neither project."""
    one = (await _create(client, auth, "one")).json()
    two = (await _create(client, auth, "two")).json()
    response = await client.patch(
        "/api/projects/one", json={"slug": "two", "title": "Clobber"}, headers=auth
    )
    assert response.status_code == 409
    assert (await _fetch(client, auth, "one")).json() == one
    assert (await _fetch(client, auth, "two")).json() == two


@pytest.mark.parametrize(
    "changes",
    [{"title": None}, {"tags": ["ok", "NOT OK"]}, {"published": "maybe"}, {"colour": "red"}],
)
async def test_invalid_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], changes: dict[str, object]
) -> None:
    """A PATCH with any invalid field is refused whole."""
    before = (await _create(client, auth, "stable")).json()
    response = await client.patch("/api/projects/stable", json=changes, headers=auth)
    assert response.status_code == 422
    assert (await _fetch(client, auth, "stable")).json() == before


async def test_patch_unknown_project_is_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """PATCH of a slug that does not exist is 404."""
    response = await client.patch("/api/projects/ghost", json={"title": "x"}, headers=auth)
    assert response.status_code == 404


async def test_delete_returns_204_and_removes(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """DELETE answers 204 with no body; the project and its tag rows are gone."""
    await _create(client, auth, "doomed")
    response = await client.delete("/api/projects/doomed", headers=auth)
    assert response.status_code == 204
    assert response.content == b""
    assert (await _fetch(client, auth, "doomed")).status_code == 404
    async with app.state.engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM project_tags")) == 0


async def test_delete_unknown_project_is_404(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """DELETE of a slug that does not exist is 404."""
    response = await client.delete("/api/projects/ghost", headers=auth)
    assert response.status_code == 404


async def test_conflicts_are_constraint_violations_not_database_errors(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A 409 on create and on rename counts in db_constraint_violations_total, never as an error."""
    await _create(client, auth, "first")
    await _create(client, auth, "second")
    duplicate = await client.post("/api/projects", json=project_payload("first"), headers=auth)
    rename = await client.patch("/api/projects/second", json={"slug": "first"}, headers=auth)
    assert (duplicate.status_code, rename.status_code) == (409, 409)
    metrics = (await client.get("/api/metrics")).text
    assert counter(metrics, "db_constraint_violations_total", operation="insert") == 1
    assert counter(metrics, "db_constraint_violations_total", operation="update") == 1
    assert "db_query_errors_total{" not in metrics
    assert counter(metrics, "app_errors_total", type="conflict") == 2


async def test_a_long_non_ascii_url_is_kept_and_read_back(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """A URL of 2,083 characters (the schema's maxLength), not all ASCII, is 201 and readable.

    Stored percent-encoded, it is far longer than 2,083 characters, and reads still work.
    """
    url = "https://example.com/"
    url += "\U0001f600" * (2083 - len(url))
    payload = project_payload("long-url", links={"repository": url})
    created = await client.post("/api/projects", json=payload, headers=auth)
    assert created.status_code == 201, created.text[:300]
    stored = created.json()["links"]["repository"]
    assert stored == "https://example.com/" + "%F0%9F%98%80" * (2083 - 20)
    assert (await _fetch(client, auth, "long-url")).json()["links"]["repository"] == stored
    listed = await client.get("/api/projects", headers=auth)
    assert listed.status_code == 200
    assert [item["links"]["repository"] for item in listed.json()["items"]] == [stored]
    patched = await client.patch(
        "/api/projects/long-url", json={"links": {"demo": url}}, headers=auth
    )
    assert patched.status_code == 200, patched.text[:300]
    assert patched.json()["links"] == {"repository": None, "demo": stored}
