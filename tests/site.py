"""folio-api on a seeded SQLite file and folio-web reading from it, as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_ports
from tests.processes import Service, start, stop, wait_until


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
    services: list[Service] = []
    try:
        # Both start at once (each takes seconds to import); the API must answer first.
        services.append(start("api", api_port, env, directory / "api.log"))
        services.append(start("web", web_port, env, directory / "web.log"))
        wait_until(services[0], "/api/health", timeout=30)
        wait_until(services[1], "/", timeout=30)
        yield site
    finally:
        for service in services:
            stop(service)
