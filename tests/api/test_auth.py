"""Writes need the bearer token; with no token configured they are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from folio.api.app import create_app
from folio.api.settings import ApiSettings
from tests.factories import project_payload

WRITES = [
    ("POST", "/api/projects"),
    ("PATCH", "/api/projects/demo-project"),
    ("DELETE", "/api/projects/demo-project"),
]


@pytest.mark.parametrize(("method", "path"), WRITES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer", "test-token"]
)
async def test_writes_without_the_right_token_are_401(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    """Missing, wrong or malformed credentials are 401 with a Bearer challenge."""
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.request(method, path, json=project_payload(), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert (await client.get("/api/projects")).json()["total"] == 0


@pytest.fixture
async def tokenless_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app started without FOLIO_API_TOKEN."""
    app = create_app(ApiSettings(database_url=database_url, api_token=None))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
        yield client
    await app.state.engine.dispose()


@pytest.mark.parametrize(("method", "path"), WRITES)
async def test_writes_are_403_when_no_token_is_configured(
    tokenless_client: httpx.AsyncClient, method: str, path: str
) -> None:
    """Without a configured token every write is 403 and says how to set one."""
    headers = {"Authorization": "Bearer anything"}
    response = await tokenless_client.request(method, path, json=project_payload(), headers=headers)
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert "FOLIO_API_TOKEN" in error["message"]


async def test_reads_work_without_a_configured_token(tokenless_client: httpx.AsyncClient) -> None:
    """Public reads need no token, even when one is sent and none is configured."""
    response = await tokenless_client.get(
        "/api/projects", headers={"Authorization": "Bearer anything"}
    )
    assert response.status_code == 200


def test_blank_token_counts_as_no_token() -> None:
    """FOLIO_API_TOKEN set to spaces does not open the API with an empty token."""
    assert ApiSettings(api_token="   ").api_token is None
