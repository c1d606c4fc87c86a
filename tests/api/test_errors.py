"""Every failure uses one error shape and a precise status, never a stack trace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from folio.api.app import create_app
from folio.api.request_size import REQUIRED_BODY_BYTES
from folio.api.settings import ApiSettings
from tests.factories import project_payload


def _assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    error: dict[str, object] = body["error"]
    return error


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    """A path no route matches is 404 in the error shape, naming the path."""
    error = _assert_error_shape(await client.get("/api/nope"), 404, "not_found")
    assert "/api/nope" in str(error["message"])


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    """A method the route does not serve is 405 with an Allow header."""
    response = await client.put("/api/projects")
    _assert_error_shape(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_malformed_json_is_400(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    """A body that is not JSON at all is 400."""
    headers = {**auth, "Content-Type": "application/json"}
    response = await client.post("/api/projects", content=b'{"slug": ', headers=headers)
    _assert_error_shape(response, 400, "bad_request")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_non_json_body_is_415(
    client: httpx.AsyncClient, auth: dict[str, str], content_type: str | None
) -> None:
    """A write whose Content-Type is not JSON is 415."""
    headers = dict(auth)
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post("/api/projects", content=b"slug=x", headers=headers)
    _assert_error_shape(response, 415, "unsupported_media_type")


async def test_json_suffix_media_type_is_accepted(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """application/merge-patch+json counts as JSON."""
    await client.post("/api/projects", json=project_payload("m"), headers=auth)
    headers = {**auth, "Content-Type": "application/merge-patch+json; charset=utf-8"}
    response = await client.patch("/api/projects/m", content=b'{"title": "T"}', headers=headers)
    assert response.status_code == 200


@pytest.fixture
async def small_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app with the smallest body cap allowed."""
    settings = ApiSettings(
        database_url=database_url, api_token="t", max_body_bytes=REQUIRED_BODY_BYTES
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
        yield client
    await app.state.engine.dispose()


async def test_body_over_the_cap_is_413(small_client: httpx.AsyncClient) -> None:
    """A declared body over FOLIO_MAX_BODY_BYTES is 413 and nothing is written."""
    payload = project_payload("big", body="x" * REQUIRED_BODY_BYTES)
    headers = {"Authorization": "Bearer t"}
    response = await small_client.post("/api/projects", json=payload, headers=headers)
    error = _assert_error_shape(response, 413, "payload_too_large")
    assert error["details"] == {"max_body_bytes": REQUIRED_BODY_BYTES}
    assert (await small_client.get("/api/projects/big", headers=headers)).status_code == 404


async def test_chunked_body_over_the_cap_is_413(small_client: httpx.AsyncClient) -> None:
    """A chunked body with no Content-Length is counted and refused past the cap."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * (REQUIRED_BODY_BYTES // 4)

    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    response = await small_client.post("/api/projects", content=chunks(), headers=headers)
    _assert_error_shape(response, 413, "payload_too_large")


async def test_chunked_body_under_the_cap_is_served(small_client: httpx.AsyncClient) -> None:
    """A chunked body within the cap reaches the handler intact."""
    body = b'{"slug": "chunked", "title": "Chunked"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    headers = {"Authorization": "Bearer t", "Content-Type": "application/json"}
    response = await small_client.post("/api/projects", content=chunks(), headers=headers)
    assert response.status_code == 201, response.text


async def test_bad_content_length_is_400(client: httpx.AsyncClient) -> None:
    """A Content-Length that is not a number is 400."""
    response = await client.post("/api/projects", headers={"Content-Length": "lots"})
    _assert_error_shape(response, 400, "bad_request")


async def test_unhandled_error_is_500_without_a_trace(tmp_path: Path) -> None:
    """A database with no schema makes the handler fail: 500, generic message, no traceback."""
    app = create_app(ApiSettings(database_url=f"sqlite:///{tmp_path}/empty.db"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
        response = await client.get("/api/projects")
    await app.state.engine.dispose()
    error = _assert_error_shape(response, 500, "internal_error")
    assert error["message"] == "internal server error"
    assert "Traceback" not in response.text
    assert "projects" not in response.text
