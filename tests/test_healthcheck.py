"""`folio healthcheck api|web`: the command container health checks run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tests.ports import free_port
from tests.test_serve import running


def _healthcheck(service: str, port: int) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "folio", "healthcheck", service, "--port", str(port)]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def test_healthy_while_the_service_runs(tmp_path: Path) -> None:
    """It exits 0 against a running folio-web, and 1 with a reason once it has stopped."""
    with running(tmp_path, "web", workers=2, max_requests=None) as service:
        port = urlsplit(service.url).port
        assert port is not None
        healthy = _healthcheck("web", port)
        assert healthy.returncode == 0, healthy.stderr
    stopped = _healthcheck("web", port)
    assert stopped.returncode == 1
    assert "Connection refused" in stopped.stderr


def test_a_port_that_is_not_folio_is_unhealthy() -> None:
    """Nothing listening means exit 1 with the URL it tried, not a traceback."""
    port = free_port()
    result = _healthcheck("api", port)
    assert result.returncode == 1
    assert f"http://127.0.0.1:{port}/api/health" in result.stderr
    assert "Traceback" not in result.stderr
