"""`folio run` keeps folio-api and folio-web up when Prometheus or Alertmanager dies."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from folio.stack.alertmanager import alertmanager_binary
from folio.stack.prometheus import prometheus_binary
from tests.ci import unavailable
from tests.ports import free_ports
from tests.stack.running import environment, folio_run, running_stack


def _children(pid: int) -> dict[str, int]:
    """folio run's helper processes by name: prometheus, and (prometheus-)alertmanager."""
    found: dict[str, int] = {}
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        program = Path(Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0].decode()).name
        if program == "prometheus":
            found["prometheus"] = int(child)
        elif program.endswith("alertmanager"):
            found["alertmanager"] = int(child)
    return found


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def test_killed_helpers_are_started_again_while_the_apps_serve(tmp_path: Path) -> None:
    """SIGKILL both helpers: the apps answer throughout, and each helper is back in seconds."""
    if prometheus_binary() is None or alertmanager_binary() is None:
        unavailable("prometheus or alertmanager not on PATH (.ci/run installs both)")
    api_port, web_port, prometheus_port, alertmanager_port = free_ports(4)
    ports = {
        "folio-api": api_port,
        "folio-web": web_port,
        "prometheus": prometheus_port,
        "alertmanager": alertmanager_port,
    }
    command = folio_run(tmp_path, ports, "--scrape-interval", "1s")
    log = tmp_path / "run.log"
    apps = [f"http://127.0.0.1:{api_port}/api/health", f"http://127.0.0.1:{web_port}/"]
    helpers = {
        "prometheus": f"http://127.0.0.1:{prometheus_port}/-/ready",
        "alertmanager": f"http://127.0.0.1:{alertmanager_port}/-/ready",
    }
    # Its URLs are printed once folio run has seen every service ready itself.
    with running_stack(command, environment(tmp_path), log, ready_within=90) as stack:
        _wait(lambda: all(map(_answers, [*apps, *helpers.values()])), 30, "the stack")
        before = _children(stack.pid)
        assert set(before) == set(helpers), before
        for pid in before.values():
            os.kill(pid, signal.SIGKILL)
        _wait(lambda: not any(map(_answers, helpers.values())), 10, "the helpers to die")
        for _ in range(10):  # the apps serve while their watchers are gone
            assert all(map(_answers, apps))
            time.sleep(0.1)
        _wait(lambda: all(map(_answers, helpers.values())), 30, "the helpers to be back")
        assert stack.poll() is None
        after = _children(stack.pid)
        assert set(after) == set(helpers)
        assert not set(after.values()) & set(before.values())
        text = log.read_text()
        for name in helpers:
            assert f"folio run: {name} exited with -9; folio-api and folio-web keep serving" in text
            assert f"folio run: {name} started again" in text
