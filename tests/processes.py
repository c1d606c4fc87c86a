"""Start and stop folio's services as real processes for the reliability tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def start(kind: str, port: int, settings: dict[str, str], log: Path, *args: str) -> Service:
    """`folio <kind> --port <port> <args>` with FOLIO_* ``settings``; output goes to ``log``."""
    environment = {**os.environ, "FOLIO_LOG_LEVEL": "warning", **settings}
    command = [sys.executable, "-m", "folio", kind, "--port", str(port), *args]
    with log.open("ab") as out:  # a file, never a pipe that could fill and block the server
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    return Service(process, f"http://127.0.0.1:{port}", log)


def wait_until(service: Service, path: str, status: int = 200, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            pytest.fail(f"{service.url} exited:\n{service.log.read_text()}")
        try:
            if httpx.get(f"{service.url}{path}", timeout=2).status_code == status:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{service.url}{path} did not answer {status} within {timeout} s")


def stop(service: Service) -> None:
    stop_process(service.process)


def stop_process(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running(
    kind: str, port: int, settings: dict[str, str], log: Path, *args: str
) -> Iterator[Service]:
    service = start(kind, port, settings, log, *args)
    try:
        yield service
    finally:
        stop(service)


def counter(metrics: str, name: str, **labels: str) -> float:
    """The sum of a family's samples whose labels include ``labels``, from exposition text."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def requests_by_status(service: Service, endpoint: str) -> dict[str, float]:
    """``http_requests_total`` of one endpoint, summed by status, from a live scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    metrics = httpx.get(f"{service.url}/api/metrics", timeout=10).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels["endpoint"] == endpoint:
                status = sample.labels["status"]
                counts[status] = counts.get(status, 0.0) + sample.value
    return counts


async def statuses_added(
    service: Service, endpoint: str, before: dict[str, float]
) -> dict[str, float]:
    """The requests counted under ``endpoint`` since ``before``, by status, once any are.

    A handler cut short by the server ends, and is counted, just after the client has its
    answer: this waits up to 5 s for the count to move.
    """
    for _ in range(50):
        after = requests_by_status(service, endpoint)
        if after != before:
            break
        await asyncio.sleep(0.1)
    grown = {status: n - before.get(status, 0.0) for status, n in after.items()}
    return {status: n for status, n in grown.items() if n}
