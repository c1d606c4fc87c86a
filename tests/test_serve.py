"""`folio api|web --workers N`: real worker processes behind one port, with exact metrics."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from folio_metrics.multiprocess.directory import ARCHIVE
from prometheus_client.parser import text_string_to_metric_families

from tests.metrics.promtool import check_metrics
from tests.ports import free_port
from tests.processes import stop_process
from tests.reliability.soak import amount

WORKERS = 3
MAX_REQUESTS = 60
REQUESTS = 400
CONCURRENCY = 8


# The page each service is loaded with: folio-api's reads the database, folio-web's needs
# no folio-api.
PATHS = {"api": "/api/projects", "web": "/about"}


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    url: str
    metrics_dir: Path
    path: str


@contextmanager
def running(
    tmp_path: Path,
    kind: str,
    *,
    workers: int = WORKERS,
    max_requests: int | None = MAX_REQUESTS,
    settings: dict[str, str] | None = None,
) -> Iterator[Service]:
    """`folio <kind>` with several workers that recycle every ``max_requests`` requests."""
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    environment = {
        **os.environ,
        "FOLIO_DATABASE_URL": f"sqlite:///{tmp_path}/folio.db",
        "FOLIO_METRICS_DIR": str(metrics_dir),
        "FOLIO_LOG_LEVEL": "warning",
        **(settings or {}),
    }
    command = [sys.executable, "-m", "folio", kind, "--port", str(port), "--workers", str(workers)]
    if max_requests is not None:
        command += ["--max-requests", str(max_requests)]
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    service = Service(process, f"http://127.0.0.1:{port}", metrics_dir, PATHS[kind])
    try:
        _wait_for_workers(service, workers)
        yield service
    finally:
        stop_process(process)
        log.close()


@pytest.fixture(params=["api", "web"])
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    with running(tmp_path, request.param) as started:
        yield started


def _wait_for_workers(service: Service, workers: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert service.process.poll() is None, "the server exited while starting"
        try:
            if len(_worker_pids(_scrape(service))) == workers:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("the workers did not all start within 60 s")


def _scrape_text(service: Service) -> str:
    """A new connection each time, so that different workers answer; retried as _load does."""
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for attempt in range(3):
            try:
                return client.get(f"{service.url}/api/metrics", timeout=10).text
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
                if attempt == 2:
                    raise
    raise AssertionError("unreachable")


def _scrape(service: Service) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = _scrape_text(service)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _worker_pids(found: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    return {
        dict(labels)["worker"]
        for name, labels in found
        if name == "process_cpu_seconds_total" and "worker" in dict(labels)
    }


def _served(found: dict[tuple[str, frozenset[tuple[str, str]]], float], path: str) -> float:
    return sum(
        value
        for (name, labels), value in found.items()
        if name == "http_requests_total" and dict(labels)["endpoint"] == path
    )


async def _load(url: str, requests: int = REQUESTS) -> int:
    """REQUESTS GETs at CONCURRENCY, one connection each; the number answered 200.

    A worker that is recycling closes connections it accepted but had not read yet, so a
    GET is retried on a connection closed without an answer, as HTTP clients do.
    """
    limits = httpx.Limits(max_keepalive_connections=0)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one() -> bool:
            async with semaphore:
                for _ in range(3):
                    try:
                        return (await client.get(url)).status_code == 200
                    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
                        continue
                return False

        return sum(await asyncio.gather(*(one() for _ in range(requests))))


def test_counts_are_exact_whichever_worker_is_scraped(service: Service) -> None:
    """Workers recycle under load, yet every scrape, from any worker, counts every request."""
    first_pids = _worker_pids(_scrape(service))
    answered = asyncio.run(_load(service.url + service.path))
    assert answered == REQUESTS
    scrapes = [_scrape(service) for _ in range(WORKERS * 3)]
    assert [_served(found, service.path) for found in scrapes] == [REQUESTS] * len(scrapes)
    assert [
        sum(v for (n, _), v in found.items() if n == "http_request_duration_seconds_count")
        >= REQUESTS
        for found in scrapes
    ] == [True] * len(scrapes)
    # 400 requests over workers that leave after 60: most of the first ones are gone.
    assert _worker_pids(scrapes[-1]) - first_pids
    _assert_files_settle(service.metrics_dir, WORKERS + 2)


def _assert_files_settle(directory: Path, bound: int) -> None:
    """Bounded storage: once replacements settle, a file per live worker, archive and lock."""
    deadline = time.monotonic() + 10
    while len(files := sorted(os.listdir(directory))) > bound:
        assert time.monotonic() < deadline, files
        time.sleep(0.2)


@pytest.mark.parametrize("kind", ["api", "web"])
def test_a_killed_worker_loses_no_counts(tmp_path: Path, kind: str) -> None:
    """SIGKILL one worker: it is replaced, and the totals it had counted stay."""
    # No recycling here, so that the kill is the only way a worker goes.
    with running(tmp_path, kind, max_requests=1_000_000) as service:
        _kill_one_worker(service)


def _kill_one_worker(service: Service) -> None:
    answered = asyncio.run(_load(service.url + service.path))
    before = _scrape(service)
    victim = sorted(_worker_pids(before))[0]
    os.kill(int(victim), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = _scrape(service)
        pids = _worker_pids(after)
        if victim not in pids and len(pids) == WORKERS:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the killed worker was not replaced")
    assert _served(after, service.path) == answered == REQUESTS


def test_merged_output_passes_promtool(service: Service) -> None:
    """What a worker serves with every worker's series merged is valid exposition."""
    asyncio.run(_load(service.url + service.path, requests=50))
    result = check_metrics(_scrape_text(service).encode())
    assert result.returncode == 0
    assert result.stdout + result.stderr == b""


def test_many_worker_restarts_keep_counts_and_bounded_files(tmp_path: Path) -> None:
    """Workers replaced after 2 requests, 60 times (200 under soak): exact counts, 4 files left."""
    wanted = amount(60, 200)
    with running(tmp_path, "api", workers=2, max_requests=2) as service:
        answered = restarts = 0
        deadline = time.monotonic() + 240
        while restarts < wanted:
            assert time.monotonic() < deadline, f"only {restarts} restarts in 240 s"
            answered += asyncio.run(_load(service.url + service.path, requests=10))
            restarts = (tmp_path / "server.log").read_text().count("started worker") - 2
        found = _scrape(service)
        assert _served(found, service.path) == answered
        archive = json.loads((service.metrics_dir / ARCHIVE).read_text())
        assert len(archive["series"]) < 100  # one entry per series, not per worker
        _assert_files_settle(service.metrics_dir, 2 + 2)


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the supervisor leaves no worker behind, and the port is free at once."""
    with running(tmp_path, "api", workers=2, max_requests=None) as service:
        pids = {int(pid) for pid in _worker_pids(_scrape(service))}
        assert len(pids) == 2
        service.process.kill()
        service.process.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.2)
        assert not [pid for pid in pids if _alive(pid)]
        port = int(service.url.rsplit(":", 1)[1])
        with socket.create_server(("127.0.0.1", port)):
            pass  # nothing keeps the port: a restart can bind it


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie awaiting its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_recycling_loses_no_request_on_fresh_connections(tmp_path: Path) -> None:
    """1,500 GETs, each on a new connection and never retried, while workers recycle."""
    with running(tmp_path, "api", workers=2, max_requests=50) as service:
        first_pids = _worker_pids(_scrape(service))
        statuses = asyncio.run(_without_retries(f"{service.url}/api/health", 1500))
        assert statuses == {200: 1500}
        assert _worker_pids(_scrape(service)) - first_pids  # workers were replaced meanwhile


async def _without_retries(url: str, requests: int) -> dict[int | str, int]:
    """Status counts of ``requests`` GETs, a connection each; a cut one counts by its error."""
    outcomes: dict[int | str, int] = {}
    semaphore = asyncio.Semaphore(4)
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one() -> None:
            async with semaphore:
                try:
                    outcome: int | str = (await client.get(url)).status_code
                except httpx.TransportError as error:
                    outcome = type(error).__name__
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

        await asyncio.gather(*(one() for _ in range(requests)))
    return outcomes
