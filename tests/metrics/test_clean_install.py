"""``pip install folio-metrics`` into an empty venv brings prometheus-client and nothing else.

The venv is made with the repository's pinned uv, from the local package, and the library
is then used there the way a stranger would: imported, and a plain ASGI app (the example)
instrumented and called in-process, since no server or framework is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ci import unavailable

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "packages" / "folio-metrics"
UV = ROOT / ".tools" / "bin" / "uv"
EXPECTED_DISTRIBUTIONS = {"folio-metrics", "prometheus-client"}
# What folio itself depends on: none of it may come with the library.
APP_DEPENDENCIES = {"fastapi", "starlette", "sqlalchemy", "pydantic", "jinja2", "httpx", "alembic"}

# uv rebuilds a local directory only when its pyproject.toml changes, unless told to.
REBUILD = ("--refresh-package", "folio-metrics")
# Runs in the clean venv: calls the example app with hand-built ASGI messages, then scrapes.
DRIVER = r"""
import asyncio, json, runpy, sys

from prometheus_client.parser import text_string_to_metric_families


async def call(app, path):
    sent = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
        "root_path": "", "query_string": b"", "headers": [(b"host", b"example.test")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], body.decode()


async def main():
    app = runpy.run_path(sys.argv[1])["app"]
    statuses = [(await call(app, path))[0] for path in ("/hello", "/items/1", "/items/2", "/no")]
    status, text = await call(app, "/metrics")
    requests = sorted(
        [s.labels["method"], s.labels["endpoint"], s.labels["status"], s.value]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "http_requests_total"
    )
    print(json.dumps({"statuses": statuses, "metrics": status, "requests": requests}))


asyncio.run(main())
"""
EXPECTED_REQUESTS = [
    ["GET", "/hello", "200", 1.0],
    ["GET", "/items/{item_id}", "200", 2.0],
    ["GET", "<unmatched>", "404", 1.0],
]
# Windows has no fcntl: the library must import, and serve one process, without it.
WITHOUT_FCNTL = "import sys; sys.modules['fcntl'] = None; "


def _environment() -> dict[str, str]:
    # Nothing of this checkout or its venv may leak into the clean one.
    leaking = {"PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "FOLIO_METRICS_DIR"}
    return {key: value for key, value in os.environ.items() if key not in leaking}


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a new venv holding ``uv pip install packages/folio-metrics`` only."""
    if not UV.exists():
        unavailable(f"{UV} is missing; `make install` puts the pinned uv there")
    venv = tmp_path_factory.mktemp("clean") / "venv"
    python = venv / "bin" / "python"
    commands = [
        [str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)],
        [str(UV), "pip", "install", "--quiet", "--python", str(python), *REBUILD, str(PACKAGE)],
    ]
    for command in commands:
        done = subprocess.run(
            command, env=_environment(), capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr}"
    return python


def _run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -I: no user site-packages, no PYTHON* variables, no current directory on sys.path.
    return subprocess.run(
        [str(python), "-I", *args],
        cwd=python.parent,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_installs_only_prometheus_client_beside_it(clean_python: Path) -> None:
    """The distributions in the venv are exactly folio-metrics and prometheus-client."""
    listed = _run(
        clean_python,
        "-c",
        "import importlib.metadata as m, json; "
        "print(json.dumps([d.metadata['Name'] for d in m.distributions()]))",
    )
    assert listed.returncode == 0, listed.stderr
    installed = {name.lower().replace("_", "-") for name in json.loads(listed.stdout)}
    assert not installed & APP_DEPENDENCIES
    assert installed == EXPECTED_DISTRIBUTIONS


def test_imports_without_any_framework(clean_python: Path) -> None:
    """``import folio_metrics`` and its public names need no framework."""
    done = _run(clean_python, "-c", "import folio_metrics; print(folio_metrics.__all__)")
    assert done.returncode == 0, done.stderr
    assert "instrument" in done.stdout


def test_plain_asgi_example_counts_requests(clean_python: Path, tmp_path: Path) -> None:
    """examples/asgi_app.py records requests under its templates and serves them."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    done = _run(clean_python, str(driver), str(PACKAGE / "examples" / "asgi_app.py"))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["statuses"] == [200, 200, 200, 404]
    assert result["metrics"] == 200
    assert result["requests"] == EXPECTED_REQUESTS


def test_imports_and_serves_one_process_without_fcntl(clean_python: Path, tmp_path: Path) -> None:
    """Where fcntl does not exist, the library still imports and counts in one process."""
    imported = _run(clean_python, "-c", WITHOUT_FCNTL + "import folio_metrics")
    assert imported.returncode == 0, imported.stderr
    driver = tmp_path / "driver.py"
    driver.write_text(WITHOUT_FCNTL.replace("; ", "\n") + DRIVER)
    done = _run(clean_python, str(driver), str(PACKAGE / "examples" / "asgi_app.py"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["requests"] == EXPECTED_REQUESTS
