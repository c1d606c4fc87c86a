"""Every token gate of both services applies one bearer rule; every JSON error has one shape."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from folio.api.app import create_app as create_api
from folio.api.settings import ApiSettings
from tests.conftest import TOKEN
from tests.web.conftest import SITE, Site

# What each gate must let through (True) or refuse (False), whichever gate it is.
HEADERS: list[tuple[str | None, bool]] = [
    (f"Bearer {TOKEN}", True),
    (f"bearer {TOKEN}", True),
    (f"BEARER {TOKEN}", True),
    (f"Bearer   {TOKEN}", True),
    (None, False),
    (TOKEN, False),
    (f"Basic {TOKEN}", False),
    ("Bearer ", False),
    (f"Bearer {TOKEN}x", False),
    (f"Bearer {TOKEN[:-1]}", False),
]
ERROR_KEYS = {"code", "message", "details"}


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """folio-api whose writes and /api/metrics both need TOKEN."""
    settings = ApiSettings(database_url=database_url, api_token=TOKEN, metrics_token=TOKEN)
    app: FastAPI = create_api(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client
    await app.state.engine.dispose()


def _error(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == ERROR_KEYS, body
    error: dict[str, object] = body["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    return error


async def test_every_token_gate_applies_the_same_rule(
    api: httpx.AsyncClient, make_site: Site
) -> None:
    """folio-api's writes and metrics, folio-web's metrics and status data: one verdict each."""
    web_tokens = {"status_token": SecretStr(TOKEN), "metrics_token": SecretStr(TOKEN)}
    async with make_site(**web_tokens) as site:
        gates = [
            (api, "DELETE", "/api/projects/no-such-project", 404),
            (api, "GET", "/api/metrics", 200),
            (site, "GET", "/api/metrics", 200),
            (site, "GET", "/status/data/request_rate", 503),  # through the gate; no Prometheus
        ]
        for client, method, path, through in gates:
            for authorization, allowed in HEADERS:
                headers = {} if authorization is None else {"Authorization": authorization}
                response = await client.request(method, path, headers=headers)
                expected = through if allowed else 401
                assert response.status_code == expected, (method, path, authorization)
                if not allowed:
                    assert response.headers["www-authenticate"].startswith("Bearer")
                    assert _error(response)["code"] == "unauthorized"


async def test_every_json_error_of_folio_web_has_the_one_shape(make_site: Site) -> None:
    """Beacon refusals, status data errors and the metrics endpoint's 401 are all alike."""
    async with make_site(metrics_token=SecretStr(TOKEN)) as site:
        answers = {
            "bad_origin": await site.post("/api/rum", content="{}", headers={"Origin": "x"}),
            "invalid_json": await site.post(
                "/api/rum", content="{", headers={"Origin": SITE, "Content-Type": "text/plain"}
            ),
            "not_found": await site.get("/status/data/no-such-chart"),
            "bad_request": await site.get("/status/data/request_rate", params={"x": "1"}),
            "prometheus_not_configured": await site.get("/status/data/request_rate"),
            "unauthorized": await site.get("/api/metrics"),
        }
    for code, response in answers.items():
        assert response.status_code >= 400, (code, response.text)
        error = _error(response)
        assert error["code"] == code
        assert error["details"] is None
