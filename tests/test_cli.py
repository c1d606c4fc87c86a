"""`folio` as a real process: database commands, serving HTTP, and SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from folio.api.seed import DEMO_PROJECTS
from tests.metrics.promtool import check_metrics
from tests.ports import free_port

TOKEN = "process-token"


def _environment(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FOLIO_DATABASE_URL": f"sqlite:///{tmp_path}/folio.db",
        "FOLIO_API_TOKEN": TOKEN,
    }


def _folio(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "folio", *arguments],
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@dataclass
class Server:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`folio api` on a free port, waited for until it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "folio", "api", "--port", str(port)],
        env=_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Server(process, port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{running.url}/api/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail(f"folio api did not answer: {process.communicate()[0]}")
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    """`folio db upgrade` succeeds on a new database and again on an up-to-date one."""
    for _ in range(2):
        result = _folio(tmp_path, "db", "upgrade")
        assert result.returncode == 0, result.stderr
        assert "latest schema" in result.stdout
    assert (tmp_path / "folio.db").exists()


def test_db_seed_is_idempotent(tmp_path: Path) -> None:
    """`folio db seed` adds the demo projects once, then reports nothing to add."""
    first = _folio(tmp_path, "db", "seed")
    second = _folio(tmp_path, "db", "seed")
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert f"seeded {len(DEMO_PROJECTS)} demo project(s)" in first.stdout
    assert "seeded 0 demo project(s)" in second.stdout


def test_unknown_command_exits_2_with_usage(tmp_path: Path) -> None:
    """A mistyped command prints usage and exits 2, without a traceback."""
    result = _folio(tmp_path, "serve")
    assert result.returncode == 2
    assert "usage: folio" in result.stderr
    assert "Traceback" not in result.stderr


def test_api_serves_http_with_migrations_applied(server: Server) -> None:
    """`folio api` migrates at start and serves reads and writes over real HTTP."""
    assert httpx.get(f"{server.url}/api/health/ready").status_code == 200
    created = httpx.post(
        f"{server.url}/api/projects",
        json={"slug": "over-http", "title": "Over HTTP", "published": True},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert created.status_code == 201
    listed = httpx.get(f"{server.url}/api/projects").json()
    assert [item["slug"] for item in listed["items"]] == ["over-http"]
    assert httpx.get(f"{server.url}/api/openapi.json").json()["info"]["title"] == "folio-api"


def test_sigterm_finishes_in_flight_requests(server: Server) -> None:
    """On SIGTERM the server stops accepting, finishes the request in flight, then exits."""
    body = json.dumps({"slug": "in-flight", "title": "Sent across shutdown"}).encode()
    head = (
        f"POST /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(head + body[:10])
        time.sleep(0.3)  # let the server parse the head, so the request is in flight
        server.process.send_signal(signal.SIGTERM)
        _wait_until_refused(server.port)
        connection.sendall(body[10:])
        response = _read_response(connection)
    assert response.startswith(b"HTTP/1.1 201"), response
    # uvicorn re-raises the signal once it has shut down cleanly, as a supervisor expects.
    assert server.process.wait(timeout=15) == -signal.SIGTERM
    assert "Application shutdown complete" in server.process.communicate()[0]


def _wait_until_refused(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except (ConnectionRefusedError, ConnectionResetError):
            # Reset: the probe reached the backlog just as the listener closed. Either
            # way, nothing accepts connections any more.
            return
        time.sleep(0.05)
    pytest.fail("the server still accepted connections 10 s after SIGTERM")


def _read_response(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_live_metrics_pass_promtool(server: Server) -> None:
    """After real traffic, `promtool check metrics` has nothing to say about /api/metrics."""
    with httpx.Client(base_url=server.url) as client:
        client.post(
            "/api/projects",
            json={"slug": "linted", "title": "Linted", "published": True},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        for path in ["/api/projects", "/api/projects/linted", "/api/projects/nope", "/x/y"]:
            client.get(path)
        client.request("BREW", "/api/projects")
        text = client.get("/api/metrics").content
        # The scraping client is still connected, so the server must see at least one.
        assert b"\nhttp_active_connections " in text
        assert b"http_active_connections 0\n" not in text
    result = check_metrics(text)
    assert result.returncode == 0, result.stdout
    assert result.stdout + result.stderr == b""
    assert b'http_requests_total{method="other",endpoint="/api/projects",status="405"} 1' in text


def test_bad_configuration_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    """A malformed FOLIO_ variable exits 2 naming the variable, without a traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "folio", "db", "upgrade"],
        env={**_environment(tmp_path), "FOLIO_MAX_BODY_BYTES": "lots"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "FOLIO_MAX_BODY_BYTES" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_named_as_such(tmp_path: Path, workers: str) -> None:
    """A taken port is reported as one, not as a database problem, and leaves no temp dir."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        before = set(Path(tempfile.gettempdir()).glob("folio-*"))
        result = _folio(tmp_path, "api", "--port", port, "--workers", workers)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "in use" in output
    assert port in output
    assert "database" not in output
    assert set(Path(tempfile.gettempdir()).glob("folio-*")) <= before


NOT_A_DIRECTORY = "[Errno 20] Not a directory"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("a regular file", NOT_A_DIRECTORY),
        ("under a regular file", NOT_A_DIRECTORY),
        ("not writable", "[Errno 13] Permission denied"),
    ],
    ids=["file", "under-a-file", "not-writable"],
)
def test_an_unusable_metrics_directory_is_named_as_such(
    tmp_path: Path, kind: str, reason: str
) -> None:
    """FOLIO_METRICS_DIR that cannot be used: one line naming it and why, no temp dir left."""
    (tmp_path / "file").touch()
    (tmp_path / "read-only").mkdir(mode=0o500)
    metrics_dir = {
        "a regular file": tmp_path / "file",
        "under a regular file": tmp_path / "file" / "metrics",
        "not writable": tmp_path / "read-only",
    }[kind]
    temporary = tmp_path / "tmp"  # the server's own TMPDIR, where nothing must remain
    temporary.mkdir()
    command = [sys.executable, "-m", "folio", "api", "--port", str(free_port()), "--workers", "2"]
    if kind == "not writable" and os.geteuid() == 0:
        command = [*_without_root_override(), *command]
    settings = {"FOLIO_METRICS_DIR": str(metrics_dir), "TMPDIR": str(temporary)}
    result = subprocess.run(
        command,
        env={**_environment(tmp_path), **settings},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"folio: the metrics directory {metrics_dir} is not usable: {reason} (FOLIO_METRICS_DIR)"
    ]
    assert list(temporary.iterdir()) == []


def _without_root_override() -> list[str]:
    """A command prefix that keeps root, but bound by file permissions as anyone else is."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and setpriv (util-linux) is missing to drop CAP_DAC_*")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_every_option_says_its_default() -> None:
    """`--help` of every command gives each option a help text that names its default."""
    import argparse

    from folio.cli_parser import build_parser

    parser = build_parser()
    commands = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    missing = [
        f"folio {name} {action.option_strings}"
        for name, command in commands.choices.items()
        for action in command._actions
        if action.option_strings
        and not isinstance(action, argparse._HelpAction)
        and "default" not in (action.help or "")
    ]
    assert missing == []
