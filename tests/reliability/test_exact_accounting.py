"""K requests at concurrency C to both services with several workers: every counter says K."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.ports import free_ports
from tests.processes import Service, counter, wait_until
from tests.reliability.soak import amount

REQUESTS = amount(1_500, 100_000)
CONCURRENCY = amount(32, 64)
# folio-web's /about needs no folio-api call, so neither service's count includes the other's.
TARGETS = {"folio-api": "/api/projects", "folio-web": "/about"}


async def _load(url: str, path: str) -> Counter[int]:
    """REQUESTS GETs of ``path`` from CONCURRENCY clients sharing a queue of work."""
    statuses: Counter[int] = Counter()
    remaining = iter(range(REQUESTS))
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            for _ in remaining:
                statuses[(await client.get(path)).status_code] += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


def _prometheus_total(prometheus: str, job: str, path: str) -> float | None:
    query = f'sum(http_requests_total{{job="{job}",endpoint="{path}"}})'
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": query}, timeout=10)
    result = response.json()["data"]["result"] if response.status_code == 200 else []
    return float(result[0]["value"][1]) if result else None


def test_counters_are_exact_under_concurrent_load(tmp_path: Path) -> None:
    """/api/metrics and Prometheus both count exactly REQUESTS per service, whichever worker."""
    if shutil.which("prometheus") is None:
        reason = "prometheus not found: install Debian's prometheus package (.ci/run does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    api_port, web_port, prometheus_port = free_ports(3)
    command = [sys.executable, "-m", "folio", "run", "--workers", "2", "--scrape-interval", "1s"]
    command += ["--api-port", str(api_port), "--web-port", str(web_port)]
    command += ["--prometheus-port", str(prometheus_port), "--data-dir", str(tmp_path)]
    command += ["--no-alertmanager"]
    environment = {**os.environ, "FOLIO_DATABASE_URL": f"sqlite:///{tmp_path}/folio.db"}
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        stack = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    urls = {
        "folio-api": f"http://127.0.0.1:{api_port}",
        "folio-web": f"http://127.0.0.1:{web_port}",
    }
    try:
        for url in urls.values():
            wait_until(Service(stack, url, log), "/api/health/ready", timeout=90)
        started = time.monotonic()
        sent = {job: asyncio.run(_load(urls[job], path)) for job, path in TARGETS.items()}
        seconds = time.monotonic() - started
        scraped = {
            job: counter(
                httpx.get(f"{urls[job]}/api/metrics", timeout=10).text,
                "http_requests_total",
                endpoint=path,
            )
            for job, path in TARGETS.items()
        }
        stored: dict[str, float | None] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            stored = {job: _prometheus_total(prometheus, job, p) for job, p in TARGETS.items()}
            if all(value == REQUESTS for value in stored.values()):
                break
            time.sleep(0.5)
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stack.kill()
    print(f"\n{2 * REQUESTS} requests at concurrency {CONCURRENCY} in {seconds:.1f} s")
    assert sent == {job: Counter({200: REQUESTS}) for job in TARGETS}
    assert scraped == dict.fromkeys(TARGETS, REQUESTS)
    assert stored == dict.fromkeys(TARGETS, REQUESTS)
