"""`folio run`: folio-api, folio-web and, when installed, Prometheus and Alertmanager."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

import httpx

from folio.stack import alertmanager, prometheus
from folio.stack.options import StackOptions, port_problem
from folio.stack.prometheus import Targets, prometheus_binary, write_config
from folio.stack.token import token_lines
from folio.web.settings import WebSettings

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
# What folio-api's and folio-web's liveness route (/api/health) answer, and nothing else does.
FOLIO_HEALTH = {"status": "ok"}


# A helper that dies is started again after 1, 2, 4 … seconds, at most this long; one that
# then stays up for HEALTHY_AFTER starts the count again.
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 60.0


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
        wait: bool = True,
        **popen: object,
    ) -> Service:
        """Start ``command``; with ``wait``, return once it answers ``ready`` as expected."""
        service = Service(name, url, ready, _spawn(command, popen), command, popen, helper)
        self.services.append(service)
        if wait:
            _wait_until_ready(service)
        return service

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
    # Quiet by default: a line per request, scrapes included, buries the warnings.
    workers = ["--workers", str(options.workers), _access_log_flag(options)]
    host = options.host
    api = f"http://{host}:{options.api_port}"
    web = f"http://{host}:{options.web_port}"
    api_env = dict(os.environ)
    if options.api_token is not None:
        api_env["FOLIO_API_TOKEN"] = options.api_token
    # Both start at once (folio-web needs folio-api only for requests): half the wait.
    started = stack.start(
        "folio-api",
        [*folio, "api", "--host", host, "--port", str(options.api_port), *workers],
        api,
        "/api/health",
        wait=False,
        env=api_env,
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
    site = stack.start(
        "folio-web",
        [*folio, "web", "--host", host, "--port", str(options.web_port), *workers],
        web,
        "/api/health",
        wait=False,
        env=env,
    )
    _wait_until_ready(started)
    _wait_until_ready(site)
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


def _access_log_flag(options: StackOptions) -> str:
    return "--access-log" if options.access_log else "--no-access-log"


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
        # folio-api's root is a 404; its docs page is where a person starts.
        url = f"{service.url}/api/docs" if service.name == "folio-api" else service.url
        lines.append(f"  {service.name:<12} {url}")
    if any(s.name == "prometheus" for s in stack.services):
        links = prometheus.ui_links(f"http://{options.host}:{options.prometheus_port}")
        lines.append(f"  targets      {links['targets']}")
        lines.append(f"  alerts       {links['alerts']}")
        if WebSettings().status_page:  # the same environment folio-web read
            lines.append(f"  status page  http://{options.host}:{options.web_port}/status")
    api = f"http://{options.host}:{options.api_port}"
    lines += token_lines(options.api_token, options.data_dir, api)
    lines += ["Press Ctrl-C to stop everything.", ""]
    print("\n".join(lines), file=sys.stderr)
