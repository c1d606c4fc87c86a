"""Real Prometheus, Alertmanager and webhook receiver processes for the alerting tests.

folio-api and folio-web run through tests/processes.py; this module adds what watches them.
Each piece can be stopped and started again on the same data, as the tests need.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from folio.stack import alertmanager as alertmanager_config
from folio.stack.prometheus import Targets, deploy_dir, prometheus_binary, write_config
from folio.stack.prometheus import command as prometheus_command
from tests import prometheus_api
from tests.ci import unavailable
from tests.processes import stop_process


def wait_for(condition: Any, timeout: float, what: str, every: float = 0.25) -> Any:
    """Poll ``condition`` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except httpx.HTTPError:
            pass
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}")


def prometheus_rules(directory: Path, *, pending_for: str | None = None) -> Path:
    """A copy of deploy/prometheus; with ``pending_for``, every alert's `for:` is that."""
    source = directory / "prometheus-source"
    shutil.copytree(deploy_dir() / "prometheus", source, dirs_exist_ok=True)
    if pending_for is not None:
        alerts = source / "rules" / "alerts.yml"
        text = re.sub(r"(?m)^(\s+for:) \S+$", rf"\1 {pending_for}", alerts.read_text())
        alerts.write_text(text)
    return source / "prometheus.yml"


def _launch(
    command: list[str], log: Path, ready: str, name: str, timeout: float
) -> subprocess.Popen[bytes]:
    """Start ``command`` with its output in ``log``, and wait until ``ready`` answers 200."""
    with log.open("ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"{name} exited:\n{log.read_text()}")
        return httpx.get(ready, timeout=2).status_code == 200

    wait_for(answers, timeout, f"{name} to be ready")
    return process


@dataclass
class Prometheus:
    """Prometheus scraping folio-api and folio-web every second, on a data directory it keeps."""

    directory: Path
    port: int
    targets: Targets
    alertmanager: str | None = None
    source: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = prometheus_binary()
        if binary is None:
            unavailable("prometheus not found: install Debian's prometheus package (.ci/run does)")
        config = write_config(
            self.directory,
            self.targets,
            interval="1s",
            alertmanager=self.alertmanager,
            source=self.source,
        )
        command = prometheus_command(
            binary, config, self.directory / "data", f"127.0.0.1:{self.port}"
        )
        log = self.directory / "prometheus.log"
        self.process = _launch(command, log, f"{self.url}/-/ready", "Prometheus", 60)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)

    def query(self, promql: str) -> list[dict[str, Any]]:
        return prometheus_api.query(self.url, promql)

    def value(self, promql: str) -> float:
        return prometheus_api.value(self.url, promql)

    def targets_up(self) -> set[str]:
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=5)
        targets = response.json()["data"]["activeTargets"]
        return {target["labels"]["job"] for target in targets if target["health"] == "up"}

    def evaluations(self) -> int:
        """How many times the alerting groups have been evaluated so far."""
        return int(
            self.value('sum(prometheus_rule_evaluations_total{rule_group=~".*alerts.yml;.*"})')
        )


@dataclass
class Receiver:
    """A webhook receiver in the test process: it keeps every notification Alertmanager posts."""

    server: ThreadingHTTPServer
    notifications: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    @classmethod
    def start(cls) -> Receiver:
        lock = threading.Lock()
        received: list[tuple[str, dict[str, Any]]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with lock:
                    received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return cls(server, received)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def alerts(self, receiver: str, status: str) -> list[dict[str, Any]]:
        """Every alert delivered to ``receiver`` in a notification of this status."""
        return [
            alert
            for path, message in list(self.notifications)
            if path == f"/{receiver}"
            for alert in message["alerts"]
            if alert["status"] == status
        ]


@dataclass
class Alertmanager:
    """Alertmanager with the repo's routes and inhibitions, sending to a test receiver fast."""

    directory: Path
    port: int
    receiver: Receiver
    site_url: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = alertmanager_config.alertmanager_binary()
        if binary is None:
            unavailable(
                "alertmanager not found: install Debian's prometheus-alertmanager (.ci/run does)"
            )
        config = alertmanager_config.write_config(self.directory / "config", self.site_url)
        self._point_at_receiver(config)
        command = alertmanager_config.command(binary, config, self.directory / "data", self.address)
        log = self.directory / "alertmanager.log"
        ready = f"http://{self.address}/-/ready"
        self.process = _launch(command, log, ready, "Alertmanager", 30)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)

    def _point_at_receiver(self, config: Path) -> None:
        """Webhooks to the test's receiver, and group timings of seconds instead of minutes."""
        document = yaml.safe_load(config.read_text())
        for receiver in document["receivers"]:
            for webhook in receiver.get("webhook_configs", []):
                webhook["url"] = f"{self.receiver.url}/{receiver['name']}"
        routes = [document["route"], *document["route"].get("routes", [])]
        for route in routes:
            route.update(group_wait="1s", group_interval="2s", repeat_interval="1h")
        config.write_text(yaml.safe_dump(document, sort_keys=False))

    def alerts(self) -> list[dict[str, Any]]:
        """Alertmanager's view: every alert it holds, with its inhibited/silenced state."""
        response = httpx.get(f"http://{self.address}/api/v2/alerts", timeout=5)
        assert response.status_code == 200, response.text
        alerts: list[dict[str, Any]] = response.json()
        return alerts
