"""folio-api on a seeded SQLite file and folio-web reading from it, as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.ports import free_ports


@dataclass(frozen=True)
class Site:
    api: str
    web: str


@contextmanager
def seeded_site(directory: Path, settings: dict[str, str]) -> Iterator[Site]:
    """Seed the demo projects, start both services with FOLIO_* ``settings``, stop them after."""
    api_port, web_port = free_ports(2)
    site = Site(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{web_port}")
    env = {
        **os.environ,
        "FOLIO_DATABASE_URL": f"sqlite:///{directory}/folio.db",
        "FOLIO_API_URL": site.api,
        **settings,
    }
    seed = subprocess.run(
        [sys.executable, "-m", "folio", "db", "seed"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert seed.returncode == 0, seed.stderr
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # Both start at once (each takes seconds to import); the API must answer first.
        processes.append(_start(directory / "api.log", env, "api", "--port", str(api_port)))
        processes.append(_start(directory / "web.log", env, "web", "--port", str(web_port)))
        _wait_for(f"{site.api}/api/health", processes[0], directory / "api.log")
        _wait_for(f"{site.web}/", processes[1], directory / "web.log")
        yield site
    finally:
        for process in processes:
            process.kill()
            process.wait()


def _start(log: Path, env: dict[str, str], *arguments: str) -> subprocess.Popen[bytes]:
    # Output goes to a file, not a pipe, so a chatty server can never block on a full pipe.
    with log.open("wb") as out:
        command = [sys.executable, "-m", "folio", *arguments]
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: the server exited:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url} did not answer within 30 s:\n{log.read_text()}")
