"""SIGTERM under traffic: readiness turns 503 for the drain period, and no request fails."""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.test_serve import Service, running

# Long enough that a balancer polling every 50 ms sees the 503 even on a loaded CI machine.
DRAIN_SECONDS = 3.0
CONCURRENCY = 8


@dataclass
class Observed:
    """What a client and a load balancer polling readiness saw around the SIGTERM."""

    answered: int = 0
    failures: list[str] = field(default_factory=list)
    ready_before: list[int] = field(default_factory=list)
    not_ready_at: float | None = None
    terminated_at: float = 0.0
    exited_at: float = 0.0


async def _drive(service: Service) -> Observed:
    """Traffic until readiness says 503 (as a load balancer would stop routing), then wait."""
    seen = Observed()
    routed = asyncio.Event()  # cleared once the balancer has taken the target out
    routed.set()
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with (
        httpx.AsyncClient(base_url=service.url, limits=limits, timeout=10) as client,
        # The balancer's own connection: it never waits behind the traffic for one.
        httpx.AsyncClient(base_url=service.url, timeout=10) as probe,
    ):

        async def send() -> None:
            while routed.is_set():
                try:
                    response = await client.get(service.path)
                except httpx.HTTPError as error:
                    seen.failures.append(f"{type(error).__name__}: {error}")
                    continue
                if response.status_code == 200:
                    seen.answered += 1
                else:
                    seen.failures.append(f"{response.status_code}: {response.text[:200]}")

        async def balance() -> None:
            try:
                while service.process.poll() is None:
                    try:
                        status = (await probe.get("/api/health/ready")).status_code
                    except httpx.TransportError:
                        break  # nothing listens any more
                    if status == 503 and seen.not_ready_at is None:
                        seen.not_ready_at = time.monotonic()
                    elif seen.not_ready_at is None:
                        seen.ready_before.append(status)
                    if seen.not_ready_at is not None:
                        routed.clear()
                    await asyncio.sleep(0.05)
            finally:
                routed.clear()  # the target is gone either way

        senders = [asyncio.create_task(send()) for _ in range(CONCURRENCY)]
        balancer = asyncio.create_task(balance())
        await asyncio.sleep(1.0)
        seen.terminated_at = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        await asyncio.gather(*senders)
        await balancer
    await asyncio.to_thread(service.process.wait, 30)
    seen.exited_at = time.monotonic()
    return seen


@pytest.mark.parametrize(("kind", "workers"), [("api", 3), ("web", 2)])
def test_sigterm_drains_before_stopping(tmp_path: Path, kind: str, workers: int) -> None:
    """Readiness is 503 before exit, the drain lasts FOLIO_DRAIN_SECONDS, and nothing fails."""
    drain = {"FOLIO_DRAIN_SECONDS": str(DRAIN_SECONDS)}
    with running(tmp_path, kind, workers=workers, max_requests=None, settings=drain) as service:
        seen = asyncio.run(_drive(service))
        assert service.process.returncode == 0
    assert seen.ready_before
    assert set(seen.ready_before) == {200}
    assert seen.not_ready_at is not None, "readiness never answered 503 before the exit"
    assert seen.not_ready_at - seen.terminated_at < DRAIN_SECONDS
    assert seen.exited_at - seen.terminated_at >= DRAIN_SECONDS
    assert seen.failures == [], f"503 seen {seen.not_ready_at - seen.terminated_at:.2f} s in"
    assert seen.answered > 20


def test_a_second_signal_ends_the_drain(tmp_path: Path) -> None:
    """With a long drain, a second SIGTERM stops the server at once instead."""
    drain = {"FOLIO_DRAIN_SECONDS": "60"}
    with running(tmp_path, "api", workers=2, max_requests=None, settings=drain) as service:
        service.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        ready = httpx.get(f"{service.url}/api/health/ready", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["error"]["details"] == {"check": "drain"}
        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(timeout=20) == 0
        assert time.monotonic() - started < 15
