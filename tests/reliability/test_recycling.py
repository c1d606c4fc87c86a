"""Workers recycled by --max-requests lose no request, on keep-alive connections too."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port
from tests.processes import stop_process
from tests.test_serve import running

REQUESTS = 3000
CONCURRENCY = 16
# About 50 recycles in the run, which still takes well under 30 s.
MAX_REQUESTS = 50


async def _outcomes(url: str, *, keep_alive: bool) -> Counter[int | str]:
    """Status counts of REQUESTS GETs, never retried; a failed one counts by its error."""
    limits = httpx.Limits(
        max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY if keep_alive else 0
    )
    outcomes: Counter[int | str] = Counter()
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def one() -> None:
            async with semaphore:
                try:
                    outcomes[(await client.get(url)).status_code] += 1
                except httpx.TransportError as error:
                    outcomes[f"{type(error).__name__}: {error}"] += 1

        await asyncio.gather(*(one() for _ in range(REQUESTS)))
    return outcomes


@pytest.mark.parametrize("keep_alive", [True, False], ids=["keep-alive", "fresh"])
def test_recycling_loses_no_request(tmp_path: Path, keep_alive: bool) -> None:
    """3,000 GETs from one pooled client while two workers recycle every 50 requests."""
    with running(tmp_path, "api", workers=2, max_requests=MAX_REQUESTS) as service:
        outcomes = asyncio.run(_outcomes(f"{service.url}/api/health", keep_alive=keep_alive))
    assert dict(outcomes) == {200: REQUESTS}
    restarts = (tmp_path / "server.log").read_text().count("started worker") - 2
    assert restarts >= REQUESTS // (MAX_REQUESTS * 4)  # the workers did recycle meanwhile


def test_a_leaving_worker_says_connection_close(tmp_path: Path) -> None:
    """From its limit on, a worker's answers say so, even on a connection that was idle."""
    with running(tmp_path, "api", workers=1, max_requests=10) as service:
        port = int(service.url.rsplit(":", 1)[1])
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as busy,
            socket.create_connection(("127.0.0.1", port), timeout=10) as idle,
        ):
            assert b"connection: close" not in _get(idle).lower()
            for _ in range(10):
                if b"connection: close" in (last := _get(busy)).lower():
                    break
            else:
                pytest.fail("ten answers and no worker leaving")
            assert busy.recv(1) == b""  # the worker closed the connection once it had answered
            # Past uvicorn's 100 ms check of its limit: the idle connection is still open,
            # for its client may be using it at this moment, and its answer says close too.
            time.sleep(0.25)
            assert b"connection: close" in _get(idle).lower(), last
            assert idle.recv(1) == b""
        _wait_for_an_answer(service.url)  # from the worker started in its place


def _get(connection: socket.socket) -> bytes:
    """One GET /api/health down ``connection``; the response head, its body read."""
    connection.sendall(b"GET /api/health HTTP/1.1\r\nHost: folio\r\n\r\n")
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"closed without an answer after {received!r}"
        received += chunk
    head, body = received.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head


def _wait_for_an_answer(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer within 30 s")


# The real `folio api`, but with the metrics directory's compaction failing every time.
BROKEN_COMPACTION = """
import sys

import folio.serve
from folio.cli import main
from folio_metrics.multiprocess import MetricsDirectory


class Broken(MetricsDirectory):
    def compact(self) -> int:
        raise RuntimeError("compaction broke")


folio.serve.MetricsDirectory = Broken
sys.exit(main(sys.argv[1:]))
"""


def test_a_failing_compaction_does_not_stop_the_recycling(tmp_path: Path) -> None:
    """The supervisor logs each failed compaction and replaces the worker all the same."""
    port = free_port()
    environment = {
        **os.environ,
        "FOLIO_DATABASE_URL": f"sqlite:///{tmp_path}/folio.db",
        "FOLIO_METRICS_DIR": str(tmp_path / "metrics"),
        "FOLIO_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-c", BROKEN_COMPACTION, "api", "--port", str(port)]
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "--workers", "1", "--max-requests", "2"],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api/health"
    try:
        _wait_for_an_answer(f"http://127.0.0.1:{port}")
        # Four workers' worth of requests, on fresh connections: three more workers go.
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as client:
            statuses = [client.get(url, timeout=30).status_code for _ in range(8)]
        assert statuses == [200] * 8
        assert process.poll() is None
    finally:
        stop_process(process)
    assert log.read_text().count("could not fold worker") >= 3, log.read_text()
