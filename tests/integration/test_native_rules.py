"""The shipped SLO rules answer the same on native histograms as on classic buckets.

Two Prometheus 2.42 load deploy/prometheus/rules and scrape one app as job folio-api: one
with native histograms on (so it stores only the native series, and the rules' native
halves answer), one without (the classic halves answer). 0.5 s is a bucket edge in both,
so the share of slow requests must agree exactly.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from bench import prometheus
from folio.stack.prometheus import (
    NATIVE_HISTOGRAMS_FLAG,
    Targets,
    command,
    prometheus_binary,
    write_config,
)
from tests.ci import unavailable
from tests.ports import free_ports
from tests.processes import stop_process

HOST = "127.0.0.1"
# Served where the shipped config scrapes folio-api: /api/metrics.
APP = """
import asyncio

import folio_metrics
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route


async def sleep(request):
    await asyncio.sleep(float(request.query_params["ms"]) / 1000)
    return Response("{}", media_type="application/json")


app = folio_metrics.instrument(
    Starlette(routes=[Route("/sleep", sleep)]),
    metrics_path="/api/metrics",
    prometheus_client=False,
)
"""
SLOW = "job:slo_latency_slow:ratio_rate5m"
# Fast requests, and some past the 0.5 s objective: a known share of slow ones.
SLEEPS_MS = [20.0] * 35 + [300.0] * 10 + [700.0] * 15
# Sent and scraped first, so that rate() sees SLEEPS_MS whole. Many, so that rate() sizes
# its extrapolation by the scrape interval alone, alike for every bucket.
WARM_UP_MS = [20.0] * 100


@contextmanager
def _prometheus(directory: Path, api: str, *, native: bool) -> Iterator[str]:
    """Prometheus with the shipped rules every second, scraping ``api`` as folio-api."""
    port, unused = free_ports(2)
    targets = Targets(api=api, web=f"{HOST}:{unused}", prometheus=f"{HOST}:{port}")
    config = write_config(directory, targets, interval="1s")
    binary = prometheus_binary() or unavailable(
        "prometheus not found: install Debian's prometheus package (.ci/run does)"
    )
    argv = command(binary, config, directory / "data", f"{HOST}:{port}")
    if not native:
        argv.remove(NATIVE_HISTOGRAMS_FLAG)
    with (directory / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        stop_process(process, timeout=10)


async def _send(app: str, sleeps: list[float]) -> None:
    async with httpx.AsyncClient(base_url=app, timeout=10) as client:
        responses = await asyncio.gather(*[client.get(f"/sleep?ms={ms}") for ms in sleeps])
    assert {response.status_code for response in responses} == {200}


def _count(server: str, native: bool) -> float:
    series = 'http_request_duration_seconds{job="folio-api",endpoint="/sleep"}'
    query = (
        f"histogram_count(sum({series}))" if native else f"sum({series.replace('{', '_count{')})"
    )
    return prometheus.value(server, query)


def test_native_and_classic_halves_of_the_latency_slo_agree(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    environment = {k: v for k, v in os.environ.items() if k != "FOLIO_METRICS_DIR"}
    (tmp_path / "slow_app.py").write_text(APP)
    app_command = [sys.executable, "-m", "uvicorn", "--app-dir", str(tmp_path), "slow_app:app"]
    app_command += ["--host", HOST, "--port", str(port), "--log-level", "warning"]
    app = f"http://{HOST}:{port}"
    with ExitStack() as stack:
        served = subprocess.Popen(app_command, env=environment)
        stack.callback(stop_process, served, timeout=10)
        native = stack.enter_context(_prometheus(tmp_path / "n", f"{HOST}:{port}", native=True))
        classic = stack.enter_context(_prometheus(tmp_path / "c", f"{HOST}:{port}", native=False))
        servers = {native: True, classic: False}
        up = 'up{job="folio-api"}'
        for server in servers:
            prometheus.wait_for(lambda s=server: prometheus.value(s, up) == 1, 30, up)
        for batch, total in ((WARM_UP_MS, 100), (SLEEPS_MS, 100 + len(SLEEPS_MS))):
            asyncio.run(_send(app, batch))
            for server, on in servers.items():
                prometheus.wait_for(
                    lambda s=server, n=on, t=total: _count(s, n) == t, 20, "scrapes"
                )
        expected = sum(ms > 500 for ms in SLEEPS_MS) / len(SLEEPS_MS)
        answers: dict[str, float] = {}

        def evaluated_after_the_traffic(server: str) -> bool:
            answers[server] = prometheus.value(server, SLOW)
            return answers[server] == pytest.approx(expected, rel=1e-9)

        for server in servers:
            prometheus.wait_for(lambda s=server: evaluated_after_the_traffic(s), 20, SLOW)
        assert answers[native] == pytest.approx(answers[classic], rel=1e-9)
        # The native Prometheus answered from native series only: 2.42 stores no buckets.
        assert prometheus.query(native, "http_request_duration_seconds_bucket") == []
        assert prometheus.query(classic, "http_request_duration_seconds_bucket")
