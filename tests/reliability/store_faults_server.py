"""A real `folio api --workers 3` for the metrics-store fault tests: started, stopped, its
workers watched through /proc, and the hostile ground it runs on (no permission override, a
full disk)."""

from __future__ import annotations

import contextlib
import errno
import functools
import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.ports import free_port
from tests.processes import stop_process

CI = os.environ.get("CI", "").lower() == "true"
WORKERS = 3
# Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that root obeys file permissions.
WITHOUT_DAC_OVERRIDE = (
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
)
DAC_CAPABILITIES = {"CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2}  # linux/capability.h


def require(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is missing, except under CI=true, where that is a failure."""
    if not condition:
        if CI:
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)


@functools.cache
def fresh_connections() -> httpx.Client:
    """One client for the whole run (making one costs ~60 ms), opening a connection per
    request: the kernel then hands requests to different workers, and no kept-alive
    connection to a worker that is gone fails the next request on it."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10)


# --- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    metrics_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start_server(
    tmp_path: Path,
    *,
    port: int | None = None,
    metrics_dir: Path | None = None,
    prefix: Sequence[str] = (),
) -> Server:
    """`folio api --workers 3`, run through ``prefix`` (setpriv) when given; not waited for."""
    port = port or free_port()
    metrics_dir = metrics_dir or tmp_path / "metrics"
    environment = {
        **os.environ,
        "FOLIO_DATABASE_URL": f"sqlite:///{tmp_path}/folio.db",
        "FOLIO_METRICS_DIR": str(metrics_dir),
        "FOLIO_LOG_LEVEL": "warning",
    }
    command = [*prefix, sys.executable, "-m", "folio", "api"]
    command += ["--port", str(port), "--workers", str(WORKERS)]
    log = tmp_path / f"server-{port}.log"
    with log.open("ab") as out:  # a file, never a pipe that could fill and block the server
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    return Server(process, port, metrics_dir, log)


@contextlib.contextmanager
def running_server(
    tmp_path: Path, *, metrics_dir: Path | None = None, prefix: Sequence[str] = ()
) -> Iterator[Server]:
    """A started server whose three workers have each answered a scrape; stopped after."""
    server = start_server(tmp_path, metrics_dir=metrics_dir, prefix=prefix)
    try:
        wait_for_workers(server)
        yield server
    finally:
        stop_process(server.process, timeout=15)
        print(f"--- {server.log} (last lines) ---\n{server.log_tail()}")


def assert_supervisor_alive(server: Server) -> None:
    code = server.process.poll()
    assert code is None, f"the supervisor exited ({code}):\n{server.log_tail()}"


# --- its workers -----------------------------------------------------------------------------


def worker_pids(server: Server) -> set[int]:
    """The supervisor's children: its workers."""
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text()
    except FileNotFoundError:
        return set()
    return {int(pid) for pid in children.split()}


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie awaiting its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_until_gone(pid: int, timeout: float = 15) -> float:
    """Wait for ``pid`` to stop running; the time it was seen gone."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"worker {pid} still runs after {timeout} s"
        time.sleep(0.02)
    return time.monotonic()


def wait_for_workers(server: Server, timeout: float = 30) -> set[int]:
    """Until there are WORKERS workers and each has answered GET /api/metrics with a 200.

    Which worker accepts a connection is up to the kernel, so connections are opened until
    each worker (told by who holds the server side of it, see ``connection_owner``) has
    answered one.
    """
    deadline = time.monotonic() + timeout
    answered: set[int] = set()
    while True:
        assert_supervisor_alive(server)
        pids = worker_pids(server)
        if len(pids) == WORKERS and pids <= answered:
            return pids
        if time.monotonic() > deadline:
            pytest.fail(
                f"workers {sorted(pids)}: only {sorted(answered)} answered a scrape within "
                f"{timeout} s\n{server.log_tail()}"
            )
        try:
            status, owner = _scrape_and_find_who_answered(server, pids)
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)  # not listening yet, or a worker still starting
            continue
        if owner is not None and status == 200:
            answered.add(owner)


def _scrape_and_find_who_answered(server: Server, pids: set[int]) -> tuple[int, int | None]:
    """GET /api/metrics on a new connection; its status, and the pid of the worker that
    answered it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/api/metrics")
        response = connection.getresponse()
        response.read()
        # The connection is kept alive: the worker that answered still holds its end.
        assert connection.sock is not None
        return response.status, connection_owner(
            server.port, connection.sock.getsockname()[1], pids
        )
    finally:
        connection.close()


def connection_owner(server_port: int, client_port: int, pids: set[int]) -> int | None:
    """The pid among ``pids`` holding the server side of 127.0.0.1:client_port's connection."""
    wanted = (_loopback(server_port), _loopback(client_port))
    inode = next((s[9] for s in _tcp_sockets() if (s[1], s[2]) == wanted), None)
    if inode is None:
        return None
    for pid in pids:
        with contextlib.suppress(OSError):
            for descriptor in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{descriptor}") == f"socket:[{inode}]":
                        return pid
    return None


def listening(port: int) -> bool:
    """Whether any socket listens on 127.0.0.1:``port`` (state 0A in /proc/net/tcp)."""
    return any(s[1] == _loopback(port) and s[3] == "0A" for s in _tcp_sockets())


def _loopback(port: int) -> str:
    """127.0.0.1:``port`` as /proc/net/tcp writes it."""
    return f"0100007F:{port:04X}"


def _tcp_sockets() -> list[list[str]]:
    """The fields of each IPv4 TCP socket in /proc/net/tcp: local address, remote address,
    state, ..., inode (fields 1, 2, 3 and 9)."""
    return [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]


# --- what it runs on -------------------------------------------------------------------------


def dac_overrides(pid: int) -> list[str]:
    """Which of CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH ``pid`` holds (effective set)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            held = int(line.split()[1], 16)
            return [name for name, bit in DAC_CAPABILITIES.items() if held >> bit & 1]
    raise AssertionError(f"no CapEff in /proc/{pid}/status")


def create_in(directory: Path) -> subprocess.CompletedProcess[str]:
    """Try to create a file in ``directory`` from a process started as the server is (no
    CAP_DAC_OVERRIDE): exit code 0 if it could, 13 if permission was denied."""
    code = (
        "import os, sys\n"
        "try:\n"
        "    os.close(os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY))\n"
        "except PermissionError:\n"
        "    sys.exit(13)\n"
        "os.unlink(sys.argv[1])\n"
    )
    probe = [*WITHOUT_DAC_OVERRIDE, sys.executable, "-c", code, str(directory / "probe")]
    return subprocess.run(probe, capture_output=True, text=True, check=False)


@contextlib.contextmanager
def full_tmpfs(directory: Path) -> Iterator[Path]:
    """``directory``, made a 2 MiB tmpfs with no room left; the file to delete for room.
    Unmounted after."""
    require(os.geteuid() == 0, "mounting a tmpfs needs root")
    directory.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(directory)]
    mounted = subprocess.run(mount, capture_output=True, text=True, check=False)
    require(mounted.returncode == 0, f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        filler = directory / "filler"
        _fill(filler)
        status = os.statvfs(directory)
        assert status.f_bavail * status.f_frsize == 0, "the tmpfs still has room"
        yield filler
    finally:
        unmounted = subprocess.run(["umount", str(directory)], check=False)
        if unmounted.returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], check=False)


def _fill(path: Path) -> None:
    """Write to ``path`` until its filesystem has no room left."""
    with path.open("wb", buffering=0) as file:
        for chunk in (64 << 10, 4 << 10, 512):
            try:
                while True:
                    file.write(bytes(chunk))
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
