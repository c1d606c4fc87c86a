"""folio-api goes away: folio-web serves degraded pages with 503, counts it, and recovers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.ports import free_ports
from tests.processes import counter, running, start, stop, wait_until

PAGES = ("/", "/projects", "/projects/portfolio-site")


def _statuses(web: str) -> dict[str, int]:
    return {page: httpx.get(f"{web}{page}", timeout=10).status_code for page in PAGES}


def test_web_degrades_while_the_api_is_down(tmp_path: Path) -> None:
    """Pages answer 503 with a notice, api_calls_total counts errors, and all is 200 again after."""
    api_port, web_port = free_ports(2)
    api_settings = {"FOLIO_DATABASE_URL": f"sqlite:///{tmp_path}/folio.db"}
    seeded = subprocess.run(
        [sys.executable, "-m", "folio", "db", "seed"],
        env={**os.environ, **api_settings},
        capture_output=True,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr
    web_settings = {
        "FOLIO_API_URL": f"http://127.0.0.1:{api_port}",
        "FOLIO_API_TIMEOUT_SECONDS": "1",
    }
    with running("web", web_port, web_settings, tmp_path / "web.log", "--workers", "2") as web:
        api = start("api", api_port, api_settings, tmp_path / "api.log")
        wait_until(api, "/api/health/ready")
        wait_until(web, "/api/health/ready")
        assert set(_statuses(web.url).values()) == {200}
        stop(api)

        down = _statuses(web.url)
        degraded = httpx.get(f"{web.url}/projects", timeout=10)
        about = httpx.get(f"{web.url}/about", timeout=10)
        metrics = httpx.get(f"{web.url}/api/metrics", timeout=10)

        api = start("api", api_port, api_settings, tmp_path / "api2.log")
        try:
            wait_until(api, "/api/health/ready")
            back = _statuses(web.url)
        finally:
            stop(api)

    assert set(down.values()) == {503}, down
    assert "unavailable" in degraded.text.lower()
    assert "Traceback" not in degraded.text
    assert about.status_code == 200  # a page that needs no data is still served
    assert metrics.status_code == 200
    errors = counter(metrics.text, "api_calls_total", status="error")
    assert errors >= len(PAGES)
    assert set(back.values()) == {200}, back
