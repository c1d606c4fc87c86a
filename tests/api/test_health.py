"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from folio.api.app import create_app
from folio.api.settings import ApiSettings

# Port 1 on loopback: nothing listens there, so connecting is refused at once.
UNREACHABLE_DATABASE = "postgresql://nobody@127.0.0.1:1/none"


async def _get(settings: ApiSettings, path: str) -> httpx.Response:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
            return await client.get(path)
    finally:
        await app.state.engine.dispose()


async def test_liveness_is_ok(client: httpx.AsyncClient) -> None:
    """GET /api/health answers 200 {"status": "ok"}."""
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_liveness_does_not_touch_the_database() -> None:
    """Liveness stays 200 when nothing listens where the database should be."""
    response = await _get(ApiSettings(database_url=UNREACHABLE_DATABASE), "/api/health")
    assert response.status_code == 200


async def test_ready_when_database_answers(client: httpx.AsyncClient) -> None:
    """GET /api/health/ready is 200 when the database answers."""
    response = await client.get("/api/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_not_ready_when_database_refuses() -> None:
    """A refused database connection gives 503 with the reason, in the error shape."""
    response = await _get(ApiSettings(database_url=UNREACHABLE_DATABASE), "/api/health/ready")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "unreachable" in error["message"]


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


async def test_not_ready_when_database_hangs(silent_server: int) -> None:
    """A database that never answers gives 503 after the configured timeout, not a hang."""
    settings = ApiSettings(
        database_url=f"postgresql://nobody@127.0.0.1:{silent_server}/none",
        ready_timeout_seconds=0.3,
    )
    response = await asyncio.wait_for(_get(settings, "/api/health/ready"), timeout=10)
    assert response.status_code == 503
    assert "did not answer within 0.3 s" in response.json()["error"]["message"]
