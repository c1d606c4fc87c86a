"""`folio run`: folio-api, folio-web and, when installed, Prometheus and Alertmanager."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx

from folio.stack import alertmanager, prometheus
from folio.stack.prometheus import Targets, prometheus_binary, write_config
from folio.web.settings import WebSettings

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# What folio-api's and folio-web's liveness route (/api/health) answer, and nothing else does.
FOLIO_HEALTH = {"status": "ok"}


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    api_port: int = 3001
    web_port: int = 3000
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    data_dir: Path = Path("var")
    scrape_interval: str | None = None
    with_prometheus: bool = True
    with_alertmanager: bool = True
    workers: int = 1


# A helper that dies is started again after 1, 2, 4 … seconds, at most this long; one that
# then stays up for HEALTHY_AFTER starts the count again.
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 60.0


def wanted_ports(options: StackOptions) -> list[tuple[str, int]]:
    """(service, port) for each process that ``run_stack`` would start with ``options``."""
    ports = [("folio-api", options.api_port), ("folio-web", options.web_port)]
    if options.with_prometheus and prometheus_binary() is not None:
        if options.with_alertmanager and alertmanager.alertmanager_binary() is not None:
            ports.append(("alertmanager", options.alertmanager_port))
        ports.append(("prometheus", options.prometheus_port))
    return ports


def port_problem(options: StackOptions) -> str | None:
    """Why one of the wanted ports cannot be listened on, or None when all can."""
    owners: dict[int, str] = {}
    for name, port in wanted_ports(options):
        if port in owners:
            return f"port {port} is wanted by both {owners[port]} and {name}"
        owners[port] = name
        try:
            _try_listen(options.host, port)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} ({name}) is in use: {error}"
            return f"port {port} ({name}) cannot be used on {options.host}: {error}"
        except OverflowError as error:  # bind's complaint about a port above 65535
            return f"port {port} ({name}) cannot be used: {error}"
    return None


def _try_listen(host: str, port: int) -> None:
    """Listen on host:port and let go at once; raises OSError as the service would.

    SO_REUSEADDR, as uvicorn and Prometheus set it: a port whose last connections wait in
    TIME_WAIT is free to them, so it is to this check.
    """
    family, kind, protocol, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        probe.listen()


@dataclass
class Service:
    name: str
    url: str
    ready_path: str
    process: subprocess.Popen[bytes]
    command: list[str]
    popen: dict[str, object]
    # Prometheus and Alertmanager watch the apps; the apps must not go down with them.
    helper: bool = False
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    restart_at: float | None = None


def _spawn(command: list[str], popen: dict[str, object]) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C reaches only this supervisor, which stops each child.
    return subprocess.Popen(command, start_new_session=True, **popen)  # type: ignore[call-overload, no-any-return]  # noqa: S603


@dataclass
class Stack:
    """The running processes; ``stop`` ends them all, gracefully first."""

    services: list[Service] = field(default_factory=list)

    def start(
        self,
        name: str,
        command: list[str],
        url: str,
        ready: str,
        *,
        helper: bool = False,
        **popen: object,
    ) -> None:
        service = Service(name, url, ready, _spawn(command, popen), command, popen, helper)
        self.services.append(service)
        _wait_until_ready(service)

    def failed(self) -> Service | None:
        """An app that has exited; a helper that has is started again, after a pause."""
        now = time.monotonic()
        for service in self.services:
            if service.process.poll() is None:
                continue
            if not service.helper:
                return service
            self._restart_later(service, now)
        return None

    def _restart_later(self, service: Service, now: float) -> None:
        if service.restart_at is None:
            if now - service.started_at >= HEALTHY_AFTER:
                service.restarts = 0
            delay = min(2.0**service.restarts, MAX_BACKOFF)
            service.restart_at = now + delay
            print(
                f"folio run: {service.name} exited with {service.process.returncode}; "
                f"folio-api and folio-web keep serving; starting it again in {delay:g} s",
                file=sys.stderr,
            )
        elif now >= service.restart_at:
            service.process = _spawn(service.command, service.popen)
            service.started_at, service.restart_at = now, None
            service.restarts += 1
            print(f"folio run: {service.name} started again", file=sys.stderr)

    def stop(self) -> None:
        for service in reversed(self.services):
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for service in self.services:
            try:
                service.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()


def run_stack(options: StackOptions) -> int:
    """Start everything, print the URLs, and wait for Ctrl-C or an app's death."""
    stopping = False

    def request_stop(_signal: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    problem = port_problem(options)
    if problem is not None:  # before anything starts: nothing to stop, nothing half up
        print(f"folio run: {problem}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack = Stack()
    try:
        _start_services(stack, options)
        _print_urls(stack, options)
        while not stopping:
            dead = stack.failed()
            if dead is not None:
                print(
                    f"folio run: {dead.name} exited with {dead.process.returncode}", file=sys.stderr
                )
                return 1
            time.sleep(0.2)
        return 0
    except RuntimeError as error:
        print(f"folio run: {error}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("folio run: stopped", file=sys.stderr)


def _start_services(stack: Stack, options: StackOptions) -> None:
    folio = [sys.executable, "-m", "folio"]
    workers = ["--workers", str(options.workers)]
    host = options.host
    api = f"http://{host}:{options.api_port}"
    web = f"http://{host}:{options.web_port}"
    stack.start(
        "folio-api",
        [*folio, "api", "--host", host, "--port", str(options.api_port), *workers],
        api,
        "/api/health",
    )
    binary = prometheus_binary() if options.with_prometheus else None
    env = {**os.environ, "FOLIO_API_URL": api}
    # A local demo: `folio loadgen` sends every beacon from 127.0.0.1, and its vitals should
    # fill the charts. Deployed, the small default share keeps one client from an alert.
    env.setdefault("FOLIO_RUM_VITALS_PER_HOUR", "1000000")
    if binary is not None and not os.environ.get("FOLIO_PROMETHEUS_URL"):
        # folio-web's /status charts come from the Prometheus started below; a URL the
        # user set (another Prometheus) is kept.
        env["FOLIO_PROMETHEUS_URL"] = f"http://{host}:{options.prometheus_port}"
    stack.start(
        "folio-web",
        [*folio, "web", "--host", host, "--port", str(options.web_port), *workers],
        web,
        "/api/health",
        env=env,
    )
    if not options.with_prometheus:
        return
    if binary is None:
        print(
            "folio run: no `prometheus` on PATH, so it is not started. Install it "
            "(Debian/Ubuntu: apt-get install prometheus; or a release from "
            "https://prometheus.io/download/) and run `make run` again.",
            file=sys.stderr,
        )
        return
    alerts_to = _start_alertmanager(stack, options, web) if options.with_alertmanager else None
    _start_prometheus(stack, options, binary, alerts_to)


def _start_alertmanager(stack: Stack, options: StackOptions, web: str) -> str | None:
    """Start Alertmanager if it is installed; its host:port, for Prometheus to send alerts to."""
    binary = alertmanager.alertmanager_binary()
    if binary is None:
        print(
            "folio run: no `alertmanager` on PATH, so alerts are evaluated but sent nowhere. "
            "Install it (Debian/Ubuntu: apt-get install prometheus-alertmanager; or a release "
            "from https://prometheus.io/download/) and run `make run` again.",
            file=sys.stderr,
        )
        return None
    directory = options.data_dir.resolve() / "alertmanager"
    config = alertmanager.write_config(directory / "config", site_url=web)
    address = f"{options.host}:{options.alertmanager_port}"
    log = (directory / "alertmanager.log").open("ab")
    command = alertmanager.command(binary, config, directory / "data", address)
    url = f"http://{address}"
    stack.start("alertmanager", command, url, "/-/ready", helper=True, stdout=log, stderr=log)
    return address


def _start_prometheus(
    stack: Stack, options: StackOptions, binary: str, alertmanager_address: str | None
) -> None:
    directory = options.data_dir.resolve() / "prometheus"
    address = f"{options.host}:{options.prometheus_port}"
    targets = Targets(
        f"{options.host}:{options.api_port}", f"{options.host}:{options.web_port}", address
    )
    config = write_config(
        directory,
        targets,
        token=os.environ.get("FOLIO_METRICS_TOKEN") or None,
        interval=options.scrape_interval,
        alertmanager=alertmanager_address,
    )
    log = (directory / "prometheus.log").open("ab")
    command = prometheus.command(binary, config, directory / "data", address)
    url = f"http://{address}"
    stack.start("prometheus", command, url, "/-/ready", helper=True, stdout=log, stderr=log)


def _wait_until_ready(service: Service) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(
                f"{service.name} exited with {service.process.returncode} while starting"
            )
        try:
            response = httpx.get(service.url + service.ready_path, timeout=1)
        except httpx.TransportError:
            response = None
        # Whatever else answers on the port (another server, another folio whose port this
        # one could not take) does not count: only this process, alive, with the right answer.
        if response is not None and _is_ready(service, response) and service.process.poll() is None:
            return
        time.sleep(0.2)
    raise RuntimeError(
        f"{service.name} did not answer {service.url}{service.ready_path} as expected "
        f"within {READY_TIMEOUT:g} s"
    )


def _is_ready(service: Service, response: httpx.Response) -> bool:
    """A 200; for folio-api and folio-web, with their health document."""
    if response.status_code != 200:
        return False
    if service.helper:  # Prometheus's and Alertmanager's /-/ready
        return True
    try:
        return bool(response.json() == FOLIO_HEALTH)
    except ValueError:
        return False


def _print_urls(stack: Stack, options: StackOptions) -> None:
    lines = ["", "folio is running:"]
    for service in stack.services:
        lines.append(f"  {service.name:<12} {service.url}")
    if any(s.name == "prometheus" for s in stack.services):
        links = prometheus.ui_links(f"http://{options.host}:{options.prometheus_port}")
        lines.append(f"  targets      {links['targets']}")
        lines.append(f"  alerts       {links['alerts']}")
        if WebSettings().status_page:  # the same environment folio-web read
            lines.append(f"  status page  http://{options.host}:{options.web_port}/status")
    lines += ["Press Ctrl-C to stop everything.", ""]
    print("\n".join(lines), file=sys.stderr)
