"""Each example in packages/folio-metrics/examples runs under uvicorn and counts as documented.

Every example is started as a real server process, sent a few requests, and scraped: its
http_requests_total must hold exactly the series the requests make, under route
templates, with excluded routes and the scrapes themselves left out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.ports import free_port
from tests.processes import stop_process

EXAMPLES = Path(__file__).resolve().parents[2] / "packages" / "folio-metrics" / "examples"
STARTUP_TIMEOUT = 30.0

Series = tuple[str, str, str]  # method, endpoint, status


@dataclass(frozen=True)
class Example:
    """An example module, the requests sent to it, and the counts they must leave."""

    module: str
    requests: tuple[tuple[str, str], ...]
    expected: dict[Series, float]
    bodies: dict[str, bytes] = field(default_factory=dict)


ITEMS_REQUESTS = (("GET", "/items/1"), ("GET", "/items/2"), ("GET", "/items/7"), ("GET", "/no"))
ITEMS_SERIES: dict[Series, float] = {
    ("GET", "/items/{item_id}", "200"): 2.0,
    ("GET", "/items/{item_id}", "404"): 1.0,
    ("GET", "<unmatched>", "404"): 1.0,
}

CASES = [
    Example(
        "fastapi_app",
        (*ITEMS_REQUESTS, ("GET", "/health"), ("GET", "/health")),
        ITEMS_SERIES,  # /health is excluded
    ),
    Example(
        "litestar_app",
        (*ITEMS_REQUESTS, ("POST", "/echo")),
        {**ITEMS_SERIES, ("POST", "/echo", "201"): 1.0},
        bodies={"/echo": b'{"greeting": "hello"}'},
    ),
    Example(
        "asgi_app",
        (*ITEMS_REQUESTS, ("GET", "/hello")),
        {**ITEMS_SERIES, ("GET", "/hello", "200"): 1.0},
    ),
    Example(
        "starlette_app",
        (("GET", "/users/1"), ("GET", "/users/2"), ("GET", "/admin/stats"), ("GET", "/no")),
        {
            ("GET", "/users/{user_id}", "200"): 2.0,
            ("GET", "/admin/stats", "200"): 1.0,
            ("GET", "<unmatched>", "404"): 1.0,
        },
    ),
]


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``uvicorn <module>:app`` on a free port, in one process; yields its base URL."""
    module: str = request.param
    assert (EXAMPLES / f"{module}.py").exists(), f"examples/{module}.py is missing"
    port = free_port()
    # One process: a directory inherited from the caller would make it a worker of many.
    environment = {k: v for k, v in os.environ.items() if k != "FOLIO_METRICS_DIR"}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(EXAMPLES),
        f"{module}:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log = tmp_path / f"{module}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_metrics(process, url, log)
        yield url
    finally:
        stop_process(process, timeout=10)


def _wait_for_metrics(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the example exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/metrics", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"{url}/metrics did not answer within {STARTUP_TIMEOUT} s:\n{log.read_text()}")


def _requests_total(text: str) -> dict[Series, float]:
    return {
        (sample.labels["method"], sample.labels["endpoint"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total"
    }


@pytest.mark.parametrize(
    ("server", "example"),
    [(case.module, case) for case in CASES],
    ids=[case.module for case in CASES],
    indirect=["server"],
)
def test_example_counts_its_requests_by_route_template(server: str, example: Example) -> None:
    """The scrape holds exactly the requests sent, by method, template and status."""
    with httpx.Client(base_url=server, timeout=10) as client:
        for method, path in example.requests:
            body = example.bodies.get(path)
            headers = {"content-type": "application/json"} if body else {}
            client.request(method, path, content=body, headers=headers)
        first = client.get("/metrics")
        second = client.get("/metrics")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    assert _requests_total(first.text) == example.expected
    # Scrapes are not requests of the app: a second one finds the same counts.
    assert _requests_total(second.text) == example.expected


def test_every_example_is_run() -> None:
    """A new example is added to the table above, so that CI runs it too."""
    assert {path.stem for path in EXAMPLES.glob("*.py")} == {case.module for case in CASES}
