"""Real Prometheus servers for the /status tests: the binary `folio run` uses, given rules."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.ci import unavailable
from tests.ports import free_port


@contextmanager
def prometheus(directory: Path, rules: dict[str, Any] | None) -> Iterator[str]:
    """A Prometheus evaluating ``rules`` every second (None: no rules); yields its URL."""
    binary = shutil.which("prometheus") or unavailable(
        "prometheus not found: install Debian's prometheus package (.ci/run does)"
    )
    directory.mkdir(parents=True)
    rule_files = []
    if rules is not None:
        (directory / "rules.yml").write_text(yaml.safe_dump(rules))
        rule_files.append("rules.yml")
    config = {"global": {"evaluation_interval": "1s"}, "rule_files": rule_files}
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    address = f"127.0.0.1:{free_port()}"
    command = [
        binary,
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={address}",
    ]
    with (directory / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield f"http://{address}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        assert process.returncode == 0, (directory / "prometheus.log").read_text()


def ready(url: str) -> bool:
    """Prometheus at ``url`` answers /-/ready with 200 (it has loaded its rules)."""
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def active_alerts(url: str) -> list[dict[str, Any]]:
    """What Prometheus's /api/v1/alerts lists: its pending and firing alerts."""
    response = httpx.get(f"{url}/api/v1/alerts", timeout=5)
    assert response.status_code == 200, response.text
    alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return alerts
