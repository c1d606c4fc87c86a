"""Serve an app with uvicorn: in this process, or in N forked workers sharing one socket.

With several workers, this process binds the socket, prepares the shared metrics
directory, forks the workers and replaces any that exits (a crash, or a recycle after
``max_requests``), folding the dead worker's counts into the directory's archive first.
SIGTERM or SIGINT stops the workers gracefully, then this process. Each worker first drains
for ``drain_seconds`` (readiness answers 503 while requests are still served; see
folio.draining), and a second signal skips the drain.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from folio_metrics.multiprocess import MetricsDirectory

from folio.protocol import ProtocolLimits

if TYPE_CHECKING:
    from folio.served import ServedApp

logger = logging.getLogger("folio.serve")

STARTUP_FAILURE = 3  # as uvicorn: a worker that cannot start would fail again
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1  # linux/prctl.h

# Builds the app in a worker; it gets the metrics directory the workers share.
AppFactory = Callable[[Path | None], "ServedApp"]


class MetricsDirectoryError(Exception):
    """The shared metrics directory cannot be created, emptied or written to."""

    def __init__(self, path: Path, error: OSError) -> None:
        reason = f"[Errno {error.errno}] {error.strerror}" if error.errno else str(error)
        super().__init__(f"the metrics directory {path} is not usable: {reason}")
        self.path = path
        self.error = error


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    log_level: str
    grace_seconds: int
    workers: int = 1
    max_requests: int | None = None
    metrics_dir: Path | None = None
    drain_seconds: float = 0.0
    # Request deadlines and the connection cap, per worker (see folio.protocol).
    limits: ProtocolLimits = field(default_factory=ProtocolLimits)
    # A folio.access record per request (folio.access_log); off, nothing is added per request.
    access_log: bool = True


def serve(build_app: AppFactory, options: ServeOptions) -> int:
    if options.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {options.workers}")
    if options.workers == 1 and options.max_requests is None:
        _run_worker(build_app(None), options, sockets=None)
        return 0
    return _Supervisor(build_app, options).run()


def _run_worker(
    served: ServedApp, options: ServeOptions, sockets: list[socket.socket] | None
) -> bool:
    """Serve until told to stop; False when the app never started."""
    import uvicorn

    from folio.access_log import AccessLogMiddleware
    from folio.draining import DrainingServer
    from folio.protocol import server_protocol

    config = uvicorn.Config(
        AccessLogMiddleware(served.app) if options.access_log else served.app,
        # folio.logs formats every line; uvicorn's own access log lacks the route and timing.
        log_config=None,
        access_log=False,
        host=options.host,
        port=options.port,
        log_level=options.log_level,
        timeout_graceful_shutdown=options.grace_seconds,
        limit_max_requests=options.max_requests,
        # Counts open TCP connections (http_active_connections) where uvicorn sees them,
        # and gives clients deadlines to send their requests in.
        http=server_protocol(served.connections, options.limits),
        # folio decides itself whether to trust X-Forwarded-For (FOLIO_TRUST_FORWARDED_FOR).
        # uvicorn's default trusts it from 127.0.0.1 and rewrites the client address, which
        # makes the metrics count the request as a 499 and lets a client pick its RUM bucket.
        proxy_headers=False,
    )
    # On SIGTERM: drain, then uvicorn stops listening, lets in-flight requests finish, exits.
    server = DrainingServer(config, served.drain, options.drain_seconds)
    server.run(sockets=sockets)
    return server.started


class _Supervisor:
    def __init__(self, build_app: AppFactory, options: ServeOptions) -> None:
        self.build_app = build_app
        self.options = options
        self.owns_directory = options.metrics_dir is None
        self.directory_path = options.metrics_dir or Path(tempfile.mkdtemp(prefix="folio-"))
        self.workers: set[int] = set()
        self.listener: socket.socket | None = None
        self.stopping = False
        self.failed = False

    def run(self) -> int:
        try:
            # Bound first: a second server on this port must not empty the first one's files.
            listener = self.listener = self._bind()
            self.directory = _prepare(self.directory_path)
        except BaseException:
            if self.listener is not None:
                self.listener.close()
            if self.owns_directory:  # a failed start leaves no temporary directory behind
                shutil.rmtree(self.directory_path, ignore_errors=True)
            raise
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        try:
            for _ in range(self.options.workers):
                self._spawn(listener)
            while self.workers:
                self._reap(listener)
                time.sleep(POLL_SECONDS)
        finally:
            listener.close()
            self._stop_workers()
            if self.owns_directory:
                shutil.rmtree(self.directory_path, ignore_errors=True)
        return 1 if self.failed else 0

    def _bind(self) -> socket.socket:
        listener = socket.create_server((self.options.host, self.options.port), backlog=2048)
        listener.set_inheritable(True)
        return listener

    def _spawn(self, listener: socket.socket) -> None:
        supervisor = os.getpid()
        pid = os.fork()
        if pid:
            self.workers.add(pid)
            logger.info("started worker %d", pid)
            return
        status = STARTUP_FAILURE
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.setpgid(0, 0)  # Ctrl-C reaches the supervisor only; it stops workers once
            _stop_with(supervisor)
            served = self.build_app(self.directory_path)
            status = 0 if _run_worker(served, self.options, [listener]) else STARTUP_FAILURE
        except BaseException:
            logger.exception("worker %d failed", os.getpid())
        finally:
            os._exit(status)

    def _reap(self, listener: socket.socket) -> None:
        while self.workers:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            self.workers.discard(pid)
            # Fold the dead worker's counters into the archive before its pid is reused.
            try:
                self.directory.compact()
            except Exception:
                # Its counts may be lost, but the service must go on with a full set of workers.
                logger.exception("could not fold worker %d's metrics into the archive", pid)
            code = os.waitstatus_to_exitcode(status)
            if code == STARTUP_FAILURE:
                logger.error("worker %d could not start; stopping", pid)
                self.failed = True
                self._request_stop(signal.SIGTERM, None)
            elif not self.stopping:
                logger.info("worker %d exited (%d); starting another", pid, code)
                self._spawn(listener)

    def _request_stop(self, _signal: int, _frame: FrameType | None) -> None:
        """Tell every worker to stop; a second signal tells them again, ending their drain."""
        if not self.stopping and self.listener is not None:
            # The workers keep their own copies; once they close them, nothing listens, and
            # new connections are refused at once rather than left waiting in the backlog.
            self.listener.close()
        self.stopping = True
        for pid in self.workers:
            _signal_worker(pid, signal.SIGTERM)

    def _stop_workers(self) -> None:
        if self.workers:
            self._request_stop(signal.SIGTERM, None)
        deadline = time.monotonic() + self.options.drain_seconds + self.options.grace_seconds + 5
        while self.workers and time.monotonic() < deadline:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid:
                self.workers.discard(pid)
            else:
                time.sleep(POLL_SECONDS)
        for pid in self.workers:
            _signal_worker(pid, signal.SIGKILL)


def _prepare(path: Path) -> MetricsDirectory:
    """Empty ``path`` of a previous run's files, having made sure the workers can write there.

    Otherwise every worker would fail as it starts, and the supervisor give up blaming them.
    """
    try:
        if path.exists() and not path.is_dir():
            # mkdir would say "File exists", which reads as if all were well.
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
        MetricsDirectory.reset(path)
        probe, probe_path = tempfile.mkstemp(dir=path, prefix=".probe-")
        os.close(probe)
        os.unlink(probe_path)
        return MetricsDirectory(path)
    except OSError as error:
        raise MetricsDirectoryError(path, error) from error


def _signal_worker(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _stop_with(supervisor: int) -> None:
    """Have Linux send this worker SIGTERM when the supervisor dies, even by SIGKILL.

    Without it, a killed supervisor leaves its workers serving the port as orphans, and the
    next start fails with "address already in use".
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        logger.warning("worker %d will outlive a killed supervisor: prctl failed", os.getpid())
    if os.getppid() != supervisor:  # it died before the request took effect
        os._exit(0)
