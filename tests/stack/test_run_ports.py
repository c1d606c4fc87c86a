"""`folio run` checks its ports before it starts anything, and waits for folio, not any server."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from folio.cli_parser import build_parser
from folio.stack import prometheus, supervisor
from folio.stack.alertmanager import alertmanager_binary
from folio.stack.prometheus import prometheus_binary
from tests.ci import unavailable
from tests.ports import free_ports
from tests.stack.running import environment, folio_run, running_stack

SERVICES = ("folio-api", "folio-web", "prometheus", "alertmanager")


def _processes_naming(words: set[str]) -> list[str]:
    """Command lines of the processes on this machine that mention any of ``words``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile
            continue
        if words & set(arguments) or any(w in a for w in words for a in arguments if "=" in a):
            found.append(" ".join(arguments))
    return found


@pytest.mark.parametrize("busy", SERVICES)
def test_a_busy_port_stops_folio_run_before_anything_starts(tmp_path: Path, busy: str) -> None:
    """One line names the port, the service and the cause; no child, file or directory is left."""
    if busy in ("prometheus", "alertmanager") and (
        prometheus_binary() is None or alertmanager_binary() is None
    ):
        unavailable("prometheus or alertmanager not on PATH (.ci/run installs both)")
    ports = dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True))
    with socket.socket() as listener:  # a plain listener: no HTTP, nothing folio
        listener.bind(("127.0.0.1", ports[busy]))
        listener.listen()
        result = subprocess.run(
            folio_run(tmp_path, ports),
            env=environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    expected = (
        f"folio run: port {ports[busy]} ({busy}) is in use: [Errno 98] Address already in use"
    )
    assert result.returncode == 1, result.stderr
    assert expected in result.stderr.splitlines(), result.stderr
    assert "folio is running" not in result.stderr
    assert "exited with" not in result.stderr
    # Nothing started, so nothing written: no data directory, no database, no children.
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert _processes_naming({str(port) for port in ports.values()} | {str(tmp_path)}) == []
    for port in ports.values():  # every port is free again
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_two_services_on_one_port_stopfolio_run(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    result = subprocess.run(
        folio_run(tmp_path, {"folio-api": port, "folio-web": port}, "--no-prometheus"),
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 1
    assert f"folio run: port {port} is wanted by both folio-api and folio-web" in result.stderr
    assert "folio is running" not in result.stderr
    assert list(tmp_path.iterdir()) == []


class _Answer(BaseHTTPRequestHandler):
    """GET ``path`` answers 200 with ``body``; anything else, 404 (as a foreign server might)."""

    routes: dict[str, bytes] = {}  # noqa: RUF012  # set per server by _serving

    def do_GET(self) -> None:
        body = self.routes.get(self.path)
        self.send_response(404 if body is None else 200)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def _serving(routes: dict[str, bytes]) -> Iterator[str]:
    handler = type("Handler", (_Answer,), {"routes": routes})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _idle_process() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    "routes",
    [
        {},  # every path 404, as a foreign server on the port answered
        {"/api/health": b"<html>OK</html>"},
        {"/api/health": json.dumps({"status": "up", "service": "other"}).encode()},
    ],
    ids=["404", "not-json", "other-document"],
)
def test_readiness_waits_for_folios_health_document(
    monkeypatch: pytest.MonkeyPatch, routes: dict[str, bytes]
) -> None:
    monkeypatch.setattr(supervisor, "READY_TIMEOUT", 1.0)
    with _serving(routes) as url, _idle_process() as process:
        service = supervisor.Service("folio-api", url, "/api/health", process, [], {})
        with pytest.raises(RuntimeError, match="did not answer"):
            supervisor._wait_until_ready(service)
    # And folio's own answer is taken at once.
    monkeypatch.setattr(supervisor, "READY_TIMEOUT", 5.0)
    health = {"/api/health": json.dumps({"status": "ok"}).encode()}
    with _serving(health) as url, _idle_process() as process:
        service = supervisor.Service("folio-web", url, "/api/health", process, [], {})
        supervisor._wait_until_ready(service)


def test_prometheus_links_follow_what_the_server_serves() -> None:
    """Release builds: /targets and /alerts. Debian's (classic UI only): /classic/…"""
    with _serving({"/targets": b"", "/alerts": b"", "/classic/targets": b""}) as url:
        assert prometheus.ui_links(url) == {"targets": f"{url}/targets", "alerts": f"{url}/alerts"}
    with _serving({"/classic/targets": b"", "/classic/alerts": b""}) as url:
        assert prometheus.ui_links(url) == {
            "targets": f"{url}/classic/targets",
            "alerts": f"{url}/classic/alerts",
        }


def test_printed_prometheus_links_answer(tmp_path: Path) -> None:
    """Against the installed Prometheus (Debian's 2.42 serves no /targets): each link is a 200."""
    if prometheus_binary() is None:
        unavailable("prometheus not on PATH (.ci/run installs it)")
    api, web, prom = free_ports(3)
    ports = {"folio-api": api, "folio-web": web, "prometheus": prom}
    log = tmp_path / "run.log"
    command = folio_run(tmp_path, ports, "--no-alertmanager", "--scrape-interval", "1s")
    with running_stack(command, environment(tmp_path), log):
        lines = log.read_text().splitlines()
        links = {
            line.split()[0]: line.split()[1]
            for line in lines
            if line.strip().startswith(("targets ", "alerts "))
        }
        assert set(links) == {"targets", "alerts"}, log.read_text()
        for link in links.values():
            assert link.startswith(f"http://127.0.0.1:{prom}/")
            assert httpx.get(link, timeout=5).status_code == 200, link


def _subcommand(name: str) -> argparse.ArgumentParser:
    commands = next(
        action
        for action in build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    parser: argparse.ArgumentParser = commands.choices[name]
    return parser


@pytest.mark.parametrize("command", ["run", "loadgen"])
def test_every_option_states_its_default(command: str) -> None:
    parser = _subcommand(command)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        text = formatter._expand_help(action) if action.help else ""
        assert "default" in text, f"{action.option_strings}: {text!r}"
        if action.default not in (None, False):
            assert str(action.default) in text, f"{action.option_strings}: {text!r}"
