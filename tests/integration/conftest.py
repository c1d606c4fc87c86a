"""The whole stack under `folio run`, scraped by a real Prometheus after `folio loadgen`.

One stack serves every test module in this package (it takes about 20 s to start and load).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from folio.stack.loadgen import Result, generate
from tests import prometheus_api
from tests.ports import free_ports

TOKEN = "integration-token"
REQUESTS = 400


@dataclass
class Stack:
    api: str
    web: str
    prometheus: str
    sent: Result
    alertmanager: str = ""

    def query(self, promql: str) -> list[dict[str, Any]]:
        return prometheus_api.query(self.prometheus, promql)

    def value(self, promql: str) -> float:
        return prometheus_api.value(self.prometheus, promql)


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """folio run (api, web, Prometheus scraping every second), then loadgen traffic."""
    if shutil.which("prometheus") is None:
        reason = "prometheus not found: install Debian's prometheus package (.ci/run does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("stack")
    api_port, web_port, prometheus_port, alertmanager_port = free_ports(4)
    env = {
        **os.environ,
        "FOLIO_DATABASE_URL": f"sqlite:///{directory}/folio.db",
        "FOLIO_API_TOKEN": TOKEN,
    }
    command = [
        sys.executable,
        "-m",
        "folio",
        "run",
        "--api-port",
        str(api_port),
        "--web-port",
        str(web_port),
        "--prometheus-port",
        str(prometheus_port),
        "--alertmanager-port",
        str(alertmanager_port),
        "--data-dir",
        str(directory),
        "--scrape-interval",
        "1s",
        # Two workers each: Prometheus must see exact totals whichever worker it scrapes.
        "--workers",
        "2",
    ]
    log = (directory / "run.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    try:
        _wait(
            lambda: _targets_up(prometheus) == {"folio-api", "folio-web", "prometheus"},
            90,
            f"all targets up (log: {directory / 'run.log'})",
        )
        sent = asyncio.run(
            generate(
                f"http://127.0.0.1:{web_port}",
                f"http://127.0.0.1:{api_port}",
                token=TOKEN,
                rate=100,
                requests=REQUESTS,
                seed=7,
            )
        )
        running = Stack(
            f"http://127.0.0.1:{api_port}",
            f"http://127.0.0.1:{web_port}",
            prometheus,
            sent,
            f"http://127.0.0.1:{alertmanager_port}",
        )
        time.sleep(3)  # a few scrapes and rule evaluations after the last request
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
            log.close()


def _targets_up(prometheus: str) -> set[str]:
    response = httpx.get(f"{prometheus}/api/v1/targets", timeout=5)
    if response.status_code != 200:  # 503 while Prometheus is still starting
        return set()
    targets = response.json()["data"]["activeTargets"]
    return {target["labels"]["job"] for target in targets if target["health"] == "up"}
