"""A real Prometheus 2.42 with native histograms on scrapes a real uvicorn app as protobuf."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from folio_metrics.protobuf import PROTOBUF_CONTENT_TYPE

from tests.ci import unavailable
from tests.metrics.test_examples import EXAMPLES
from tests.ports import free_ports
from tests.processes import stop_process

RECORDER = '''
"""The Starlette example, noting each /metrics answer's Accept and Content-Type."""
import json
import os
import sys

sys.path.insert(0, os.environ["EXAMPLES_DIR"])
from starlette_app import app as example


async def app(scope, receive, send):
    if scope["type"] != "http" or scope["path"] != "/metrics":
        return await example(scope, receive, send)
    accept = dict(scope["headers"]).get(b"accept", b"").decode()

    async def noting(message):
        if message["type"] == "http.response.start":
            kind = dict(message["headers"]).get(b"content-type", b"").decode()
            with open(os.environ["SCRAPE_LOG"], "a") as log:
                log.write(json.dumps({"accept": accept, "content_type": kind}) + "\\n")
        await send(message)

    await example(scope, receive, noting)
'''


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    """Poll ``condition`` until true, treating a refused connection as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:g} s waiting for {what}:\n{log.read_text()}")


def _query(prometheus: str, promql: str) -> dict[str, float]:
    """An instant query's result, by each series' endpoint label."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    assert response.status_code == 200, response.text
    return {
        item["metric"].get("endpoint", ""): float(item["value"][1])
        for item in response.json()["data"]["result"]
    }


def _text_value(text: str, sample: str, endpoint: str) -> float:
    """The value of ``sample`` for ``endpoint`` in a text scrape."""
    prefix = f'{sample}{{method="GET",endpoint="{endpoint}"}} '
    (line,) = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(line.removeprefix(prefix))


def test_real_prometheus_scrapes_protobuf(tmp_path: Path) -> None:
    """Prometheus 2.42 with native histograms on negotiates protobuf and stores exact values."""
    binary = shutil.which("prometheus") or unavailable(
        "prometheus not found: install Debian's prometheus package (.ci/run does)"
    )
    app_port, prometheus_port = free_ports(2)
    (tmp_path / "recorder.py").write_text(RECORDER)
    scrape_log = tmp_path / "scrapes.jsonl"
    environment = {k: v for k, v in os.environ.items() if k != "FOLIO_METRICS_DIR"}
    environment |= {"EXAMPLES_DIR": str(EXAMPLES), "SCRAPE_LOG": str(scrape_log)}
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": "app", "static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    server_command = [sys.executable, "-m", "uvicorn", "--app-dir", str(tmp_path)]
    server_command += ["recorder:app", "--port", str(app_port), "--log-level", "warning"]
    prometheus_command = [
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
        "--enable-feature=native-histograms",
    ]
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    app = f"http://127.0.0.1:{app_port}"
    log = tmp_path / "processes.log"
    with log.open("wb") as out:
        server = subprocess.Popen(server_command, env=environment, stdout=out, stderr=out)
        scraper = subprocess.Popen(prometheus_command, stdout=out, stderr=out)
    try:
        # Scrapes are not counted as requests, so waiting on /metrics leaves the counts alone.
        wait_for(lambda: httpx.get(f"{app}/metrics").status_code == 200, 20, "uvicorn", log)
        for path in ["/users/1"] * 5 + ["/no"] * 2:
            httpx.get(f"{app}{path}", timeout=5)
        users = "/users/{user_id}"
        expected = {users: 5.0, "<unmatched>": 2.0}
        # Request durations are native: 2.42 keeps the native series and drops the classic.
        wait_for(
            lambda: (
                _query(prometheus, "histogram_count(http_request_duration_seconds)") == expected
            ),
            20,
            "Prometheus to scrape the requests",
            log,
        )
        assert _query(prometheus, "http_requests_total") == expected
        assert _query(prometheus, "http_request_duration_seconds_count") == {}
        rate = "histogram_count(rate(http_request_duration_seconds[1m]))"
        wait_for(lambda: set(_query(prometheus, rate)) == set(expected), 10, rate, log)
        text = httpx.get(f"{app}/metrics", timeout=5).text  # the same values as in text
        assert f'http_request_duration_seconds_bucket{{method="GET",endpoint="{users}"' in text
        sums = _query(prometheus, "histogram_sum(http_request_duration_seconds)")
        assert sums[users] == pytest.approx(
            _text_value(text, "http_request_duration_seconds_sum", users)
        )
        # Request sizes stay classic, bucket for bucket as in text.
        assert _query(prometheus, 'http_request_size_bytes_bucket{le="+Inf"}') == expected
        in_buckets = _query(prometheus, "count by (endpoint) (http_request_size_bytes_bucket)")
        assert in_buckets[users] == text.count(
            f'request_size_bytes_bucket{{method="GET",endpoint="{users}"'
        )
        (target,) = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"][
            "activeTargets"
        ]
        assert (target["health"], target["lastError"]) == ("up", "")
    finally:
        stop_process(scraper, timeout=10)
        stop_process(server, timeout=10)
    scrapes = [json.loads(line) for line in scrape_log.read_text().splitlines()]
    by_prometheus = [scrape for scrape in scrapes if "protobuf" in scrape["accept"]]
    assert by_prometheus, scrapes
    assert {scrape["content_type"] for scrape in by_prometheus} == {PROTOBUF_CONTENT_TYPE}
