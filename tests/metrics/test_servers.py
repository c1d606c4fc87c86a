"""Exact totals across workers under the servers people run, with nothing of folio in them.

Each test serves packages/folio-metrics/examples/starlette_app.py with a real server and
several workers, each worker counting into FOLIO_METRICS_DIR, sends a known number of
requests over many connections, then scrapes /metrics repeatedly: whichever worker answers
must show exactly what the clients were answered, per (method, endpoint, status).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ci import unavailable
from tests.ports import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "packages" / "folio-metrics" / "examples"
APP = "starlette_app:app"
CONNECTIONS = 4
MAX_REQUESTS = 40
# What each path the clients ask for is counted under.
TEMPLATES = {
    "/users/7": "/users/{user_id}",
    "/users/nope": "<unmatched>",
    "/admin/stats": "/admin/stats",
    "/health": "/health",
}
# One batch: 3 user lookups, 2 unknown users, 1 admin call.
BATCH = ["/users/7", "/users/nope", "/users/7", "/admin/stats", "/users/nope", "/users/7"]

Key = tuple[str, ...]  # method, endpoint, status


@dataclass
class Server:
    """A server process (and its workers, in its own process group) and what it logged."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    directory: Path
    answered: Counter[Key] = field(default_factory=Counter)  # responses the clients got
    pids: set[int] = field(default_factory=set)  # workers seen answering
    retried: int = 0

    def request(self, client: httpx.Client, path: str) -> None:
        """GET ``path``, again if the connection failed before an answer (a worker exiting)."""
        for _ in range(5):
            try:
                response = client.get(f"{self.url}{path}", headers={"connection": "close"})
            except httpx.TransportError:
                self.retried += 1
                continue
            self.answered[("GET", TEMPLATES[path], str(response.status_code))] += 1
            if response.status_code == 200 and path != "/health":
                self.pids.add(int(response.json()["pid"]))
            return
        pytest.fail(f"{path} got no answer after 5 tries:\n{_tail(self.log)}")

    def send(self, paths: list[str]) -> None:
        """Send ``paths`` over CONNECTIONS clients at once; returns when all are answered."""

        def one_client(share: list[str]) -> None:
            with httpx.Client(timeout=10) as client:
                for path in share:
                    self.request(client, path)

        with ThreadPoolExecutor(CONNECTIONS) as pool:
            shares = [paths[index::CONNECTIONS] for index in range(CONNECTIONS)]
            list(pool.map(one_client, shares))  # raises what a client raised

    def scrape(self) -> dict[Key, float]:
        """http_requests_total as one worker renders it, by (method, endpoint, status)."""
        text = httpx.get(f"{self.url}/metrics", headers={"connection": "close"}, timeout=10).text
        return {
            tuple(sample.labels[name] for name in ("method", "endpoint", "status")): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "http_requests_total"
        }

    def settle(self) -> None:
        """Wait until the last answers are counted: a worker records a request just after
        the client has its answer."""
        deadline = time.monotonic() + 5
        while self.scrape() != _nonzero(self.answered) and time.monotonic() < deadline:
            time.sleep(0.1)

    def scrapes_once_settled(self, times: int = 6) -> list[dict[Key, float]]:
        """``times`` scrapes, taken once settled; any worker may render each."""
        self.settle()
        return [self.scrape() for _ in range(times)]

    def worker_files(self) -> list[str]:
        return sorted(name for name in os.listdir(self.directory) if name.startswith("worker-"))


ServerFactory = Callable[[list[str]], Server]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    """Starts ``argv`` (with {port} filled in) in its own process group; stops them all."""
    started: list[Server] = []

    def start(argv: list[str]) -> Server:
        venv = str(Path(sys.executable).parent)
        binary = shutil.which(argv[0], path=venv) or shutil.which(argv[0])
        if binary is None:
            unavailable(f"{argv[0]} is not installed")
        port = free_port()
        directory = tmp_path / f"metrics-{len(started)}"
        directory.mkdir()  # fresh for every server, as the servers' docs require
        log = tmp_path / f"server-{len(started)}.log"
        environment = {**os.environ, "FOLIO_METRICS_DIR": str(directory)}
        command = [binary, *(part.format(port=port) for part in argv[1:])]
        with log.open("ab") as out:  # a file, never a pipe that could fill and block it
            process = subprocess.Popen(
                command,
                cwd=tmp_path,  # the app is found through the server's own directory option
                env=environment,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        server = Server(process, f"http://127.0.0.1:{port}", log, directory)
        started.append(server)
        _wait_ready(server)
        return server

    yield start
    for server in started:
        _stop(server.process)


def test_uvicorn_workers_count_exactly(serve: ServerFactory) -> None:
    server = serve(_uvicorn())
    server.send(BATCH * 20)
    _assert_exact_except_unmatched(server)
    assert len(server.pids) >= 2, f"one worker answered everything: {server.pids}"


def test_gunicorn_recycled_and_killed_workers_count_exactly_in_bounded_storage(
    serve: ServerFactory,
) -> None:
    server = serve(_gunicorn())
    first = _booted(server, at_least=3)
    server.send(BATCH * 10)
    # Killed between batches once settled: nothing is in flight and every answer is counted.
    # A kill in the instant between an answer and its count would lose that one request.
    server.settle()
    victim = next(pid for pid in sorted(server.pids) if _ours(server, pid))
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: not _ours(server, victim), f"worker {victim} to die")
    for _ in range(12):  # until every first worker has recycled (or been killed)
        server.send(BATCH * 5)
        if not any(_ours(server, pid) for pid in first):
            break
    assert not any(_ours(server, pid) for pid in first), _tail(server.log)
    recycled = server.log.read_text().count("Maximum request limit of")
    assert recycled >= len(first) - 1, _tail(server.log)

    _assert_exact_except_unmatched(server)

    # Storage is bounded: a scrape folds dead workers' files into archive.json. Only the
    # worker that answers it may die after it (its request limit reached) and leave a file.
    time.sleep(1)  # workers that reached their limit have exited
    server.scrape()
    booted = _booted(server, at_least=len(first) + 3)
    files = server.worker_files()
    owners = {int(name.split("-")[1]) for name in files}
    assert len({pid for pid in owners if not _ours(server, pid)}) <= 1, files
    assert len(booted) >= 6 > 3 + 1 >= len(owners), files
    # The first workers' counts are in the exact totals above, yet none of their files is left.
    assert not owners & first
    assert json.loads((server.directory / "archive.json").read_text())["series"]


def test_gunicorn_preload_forked_workers_count_exactly(serve: ServerFactory) -> None:
    # The app, and its metrics, are built in the master and inherited by every fork.
    server = serve(_gunicorn("--preload"))
    server.send(BATCH * 20)
    _assert_exact_except_unmatched(server)
    # Workers sharing the master's file would overwrite each other's entries: set aside.
    assert not (server.directory / "quarantine").exists(), _tail(server.log)
    assert len(server.pids) >= 3


def test_granian_workers_count_exactly(serve: ServerFactory) -> None:
    server = serve(_granian())
    server.send(BATCH * 20)
    _assert_exact_except_unmatched(server)
    assert len(server.pids) == 2, f"not both workers answered: {server.pids}"


@pytest.mark.parametrize("argv", ["uvicorn", "gunicorn", "granian"])
def test_unknown_paths_are_counted_as_unmatched(serve: ServerFactory, argv: str) -> None:
    server = serve({"uvicorn": _uvicorn, "gunicorn": _gunicorn, "granian": _granian}[argv]())
    server.send(BATCH * 4)
    for scrape in server.scrapes_once_settled(times=3):
        assert scrape == _nonzero(server.answered)
    assert server.answered[("GET", "<unmatched>", "404")] == 8


# --- commands ---------------------------------------------------------------------------


def _uvicorn() -> list[str]:
    return ["uvicorn", "--app-dir", str(EXAMPLES), "--port", "{port}", "--workers", "3", APP]


def _gunicorn(*extra: str) -> list[str]:
    options = f"-w 3 -k uvicorn_worker.UvicornWorker --max-requests {MAX_REQUESTS}"
    bind = ["-b", "127.0.0.1:{port}"]
    return ["gunicorn", "--chdir", str(EXAMPLES), *options.split(), *bind, *extra, APP]


def _granian() -> list[str]:
    options = "--interface asgi --workers 2 --port {port}"
    return ["granian", "--working-dir", str(EXAMPLES), *options.split(), APP]


# --- helpers ----------------------------------------------------------------------------


def _assert_exact_except_unmatched(server: Server) -> None:
    """Every scrape equals the answers, exactly; unknown paths are only summed by status here
    (their endpoint label is test_unknown_paths_are_counted_as_unmatched's business)."""
    expected = _nonzero(server.answered)
    unknown = expected.pop(("GET", "<unmatched>", "404"))
    for scrape in server.scrapes_once_settled():
        not_found = sum(n for key, n in scrape.items() if key[2] == "404")
        found = {key: n for key, n in scrape.items() if key[2] != "404"}
        assert (found, not_found) == (expected, unknown), (server.retried, _tail(server.log))


def _nonzero(counts: Counter[Key]) -> dict[Key, float]:
    return {key: float(n) for key, n in counts.items() if n}


def _wait_ready(server: Server) -> None:
    def ready() -> bool:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited:\n{_tail(server.log)}")
        try:
            response = httpx.get(f"{server.url}/health", headers={"connection": "close"})
        except httpx.TransportError:
            return False
        # Counted like any request: the totals must include it.
        server.answered[("GET", "/health", str(response.status_code))] += 1
        return response.status_code == 200

    _wait_for(ready, f"{server.url}/health to answer", timeout=15, log=server.log)


def _booted(server: Server, at_least: int) -> set[int]:
    """The worker pids gunicorn has started so far, once there are ``at_least``."""
    pattern = re.compile(r"Booting worker with pid: (\d+)")
    found: set[int] = set()

    def enough() -> bool:
        found.update(int(pid) for pid in pattern.findall(server.log.read_text()))
        return len(found) >= at_least

    _wait_for(enough, f"{at_least} workers to boot")
    return found


def _ours(server: Server, pid: int) -> bool:
    """A live process of this server (in the group the test started), not a reused pid."""
    try:
        return os.getpgid(pid) == server.process.pid
    except ProcessLookupError:
        return False


def _wait_for(
    condition: Callable[[], bool], what: str, timeout: float = 10, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{_tail(log) if log else ''}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's whole process group, then SIGKILL whatever is left."""
    group = process.pid  # start_new_session: the server leads its own group
    with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(group, signal.SIGTERM)
        process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)  # workers that outlived their master
    process.wait()


def _tail(log: Path) -> str:
    return log.read_text()[-4000:]
