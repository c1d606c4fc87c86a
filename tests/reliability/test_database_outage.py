"""PostgreSQL stops under traffic: folio-api answers 503, counts it, recovers, loses no write."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.ports import free_port
from tests.processes import Service, counter, running, wait_until
from tests.reliability.postgres import PrivatePostgres
from tests.reliability.soak import amount

TOKEN = "outage-token"
OUTAGE_SECONDS = amount(3, 30)
CLIENTS = 4


@dataclass
class Phase:
    """What the clients saw in one phase: statuses of reads and writes, and created slugs."""

    reads: Counter[int] = field(default_factory=Counter)
    writes: Counter[int] = field(default_factory=Counter)
    bodies_5xx: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        server.wait_until_accepting()
        yield server
    finally:
        server.remove()


async def _traffic(url: str, seconds: float, phase: Phase, serial: list[int]) -> None:
    """CLIENTS loops of a read then a write, for ``seconds``."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    deadline = time.monotonic() + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            read = await client.get("/api/projects")
            phase.reads[read.status_code] += 1
            serial[0] += 1
            slug = f"outage-{serial[0]}"
            body = {"slug": slug, "title": slug, "summary": "written during the test"}
            write = await client.post("/api/projects", json=body, headers=headers)
            phase.writes[write.status_code] += 1
            if write.status_code == 201:
                phase.created.append(slug)
            for response in (read, write):
                if response.status_code >= 500:
                    phase.bodies_5xx.append(response.text)

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(CLIENTS)))


def _run(url: str, seconds: float, serial: list[int]) -> Phase:
    phase = Phase()
    asyncio.run(_traffic(url, seconds, phase, serial))
    return phase


async def _stored_slugs(database_url: str) -> set[str]:
    connection = await asyncpg.connect(database_url)
    try:
        return {row["slug"] for row in await connection.fetch("SELECT slug FROM projects")}
    finally:
        await connection.close()


def test_database_outage_is_a_clean_503_and_recovers(
    postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """Health stays up, reads and writes get 503 (never 500), metrics count them, no 201 is lost."""
    settings = {
        "FOLIO_DATABASE_URL": postgres.url,
        "FOLIO_API_TOKEN": TOKEN,
        "FOLIO_READY_TIMEOUT_SECONDS": "1",
    }
    serial = [0]
    port = free_port()
    with running("api", port, settings, tmp_path / "api.log", "--workers", "2") as api:
        wait_until(api, "/api/health/ready")
        pid = api.process.pid
        before = _run(api.url, 1.0, serial)
        postgres.stop()
        during_health = _probe(api)
        during = _run(api.url, OUTAGE_SECONDS, serial)
        metrics_during = httpx.get(f"{api.url}/api/metrics", timeout=10)
        postgres.start()
        wait_until(api, "/api/health/ready", timeout=30)
        after = _run(api.url, 1.0, serial)
        assert api.process.pid == pid
        assert api.process.poll() is None, "folio-api restarted or died"
    stored = asyncio.run(_stored_slugs(postgres.url))

    assert set(before.reads) == {200}
    assert set(before.writes) == {201}
    assert during_health == (200, 503)
    assert set(during.reads) == {503}, during.reads
    assert set(during.writes) <= {201, 503}, during.writes
    assert all('"the database is unavailable' in body for body in during.bodies_5xx)
    assert metrics_during.status_code == 200
    assert counter(metrics_during.text, "db_query_errors_total") > 0
    assert counter(metrics_during.text, "app_errors_total", type="server_error") >= sum(
        during.reads.values()
    )
    assert set(after.reads) == {200}
    assert set(after.writes) == {201}
    acknowledged = before.created + during.created + after.created
    assert acknowledged
    assert set(acknowledged) <= stored


def _probe(api: Service) -> tuple[int, int]:
    """Liveness and readiness, as an orchestrator sees them."""
    live = httpx.get(f"{api.url}/api/health", timeout=5).status_code
    deadline = time.monotonic() + 10
    ready = httpx.get(f"{api.url}/api/health/ready", timeout=5).status_code
    while ready != 503 and time.monotonic() < deadline:
        time.sleep(0.2)
        ready = httpx.get(f"{api.url}/api/health/ready", timeout=5).status_code
    return live, ready
