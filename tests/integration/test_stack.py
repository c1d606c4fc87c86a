"""The whole stack under `folio run`, scraped by a real Prometheus after `folio loadgen`."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from folio.stack.loadgen import Result, generate
from tests.ports import free_ports
from tests.test_docs_metrics import DOC, FAMILY_HEADER, NAME, PARTS, SHARED, _rows

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "integration-token"
REQUESTS = 400
# Families that only have series once something goes wrong, which loadgen does not cause.
ONLY_ON_TROUBLE = {
    "db_query_errors_total",
    "folio_metrics_series_overflow_total",
    "folio_metrics_errors_total",
}


@dataclass
class Stack:
    api: str
    web: str
    prometheus: str
    sent: Result

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = httpx.get(
            f"{self.prometheus}/api/v1/query", params={"query": promql}, timeout=10
        )
        assert response.status_code == 200, (promql, response.text)
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def value(self, promql: str) -> float:
        result = self.query(promql)
        assert len(result) == 1, (promql, result)
        return float(result[0]["value"][1])


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """folio run (api, web, Prometheus scraping every second), then loadgen traffic."""
    if shutil.which("prometheus") is None:
        reason = "prometheus not found: install Debian's prometheus package (.ci/run does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("stack")
    api_port, web_port, prometheus_port = free_ports(3)
    env = {
        **os.environ,
        "FOLIO_DATABASE_URL": f"sqlite:///{directory}/folio.db",
        "FOLIO_API_TOKEN": TOKEN,
    }
    command = [
        sys.executable,
        "-m",
        "folio",
        "run",
        "--api-port",
        str(api_port),
        "--web-port",
        str(web_port),
        "--prometheus-port",
        str(prometheus_port),
        "--data-dir",
        str(directory),
        "--scrape-interval",
        "1s",
        # Two workers each: Prometheus must see exact totals whichever worker it scrapes.
        "--workers",
        "2",
    ]
    log = (directory / "run.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    try:
        _wait(
            lambda: _targets_up(prometheus) == {"folio-api", "folio-web", "prometheus"},
            90,
            f"all targets up (log: {directory / 'run.log'})",
        )
        sent = asyncio.run(
            generate(
                f"http://127.0.0.1:{web_port}",
                f"http://127.0.0.1:{api_port}",
                token=TOKEN,
                rate=100,
                requests=REQUESTS,
                seed=7,
            )
        )
        running = Stack(
            f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{web_port}", prometheus, sent
        )
        time.sleep(3)  # a few scrapes and rule evaluations after the last request
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
            log.close()


def _targets_up(prometheus: str) -> set[str]:
    response = httpx.get(f"{prometheus}/api/v1/targets", timeout=5)
    if response.status_code != 200:  # 503 while Prometheus is still starting
        return set()
    targets = response.json()["data"]["activeTargets"]
    return {target["labels"]["job"] for target in targets if target["health"] == "up"}


def test_both_services_are_up_without_scrape_errors(stack: Stack) -> None:
    """Every target is up, no scrape errored and none hit its sample limit."""
    targets = httpx.get(f"{stack.prometheus}/api/v1/targets", timeout=5).json()["data"][
        "activeTargets"
    ]
    assert {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets} == {
        job: ("up", "") for job in ("folio-api", "folio-web", "prometheus")
    }
    assert stack.value("sum(prometheus_target_scrapes_exceeded_sample_limit_total)") == 0
    assert stack.value('min(up{job=~"folio-.*"})') == 1


PER_WORKER_PREFIXES = ("process_", "python_gc_", "python_asyncio_event_loop_lag", "db_pool_")


def _documented(service: str) -> dict[str, list[str]]:
    """Family name to label names; a cell like "`state` (`in_use`, `idle`) lists values too."""
    rows = _rows(SHARED, FAMILY_HEADER) + _rows(PARTS[service], FAMILY_HEADER)
    labels = {}
    for cells in rows:
        name = NAME.fullmatch(cells[0])
        assert name, cells
        labels[name[1]] = NAME.findall(re.sub(r"\([^)]*\)", "", cells[2]))
    return labels


@pytest.mark.parametrize("service", ["folio-api", "folio-web"])
def test_every_documented_metric_is_stored_with_its_labels(stack: Stack, service: str) -> None:
    """Each family in docs/metrics.md is in Prometheus for its job, with the documented labels."""
    missing, wrong = [], []
    for name, labels in _documented(service).items():
        types = re.search(rf"`{name}` \| (\w+)", DOC.read_text())
        series_name = f"{name}_count" if types and types[1] == "histogram" else name
        series = stack.query(f'{series_name}{{job="{service}"}}')
        if not series:
            if name not in ONLY_ON_TROUBLE:
                missing.append(name)
            continue
        extra = {"__name__", "job", "instance"}
        if name.startswith(PER_WORKER_PREFIXES):
            extra.add("worker")  # one series per live worker (docs/metrics.md, Several workers)
        if any(set(s["metric"]) - extra != set(labels) for s in series):
            wrong.append((name, labels, sorted(set(series[0]["metric"]) - extra)))
    assert missing == []
    assert wrong == []


@pytest.mark.parametrize("service", ["folio-api", "folio-web"])
def test_each_worker_reports_its_runtime(stack: Stack, service: str) -> None:
    """With two workers per service, Prometheus stores process metrics for each of them."""
    workers = stack.query(f'count by (worker) (process_cpu_seconds_total{{job="{service}"}})')
    assert len(workers) == 2, workers


def test_request_counters_equal_what_loadgen_sent(stack: Stack) -> None:
    """folio-web's counters match loadgen exactly; folio-api's add folio-web's own calls."""
    sent = stack.sent.sent
    assert stack.sent.failures == 0
    for (service, method, template, status), count in sent.items():
        job = f"folio-{service}"
        labels = f'job="{job}",method="{method}",endpoint="{template}",status="{status}"'
        expected = count
        if service == "api" and method == "GET":
            calls = stack.query(f'sum(api_calls_total{{endpoint="{template}",status="{status}"}})')
            expected += int(float(calls[0]["value"][1])) if calls else 0
        assert stack.value(f"sum(http_requests_total{{{labels}}})") == expected, labels
    pages = Counter(
        {k: v for k, v in sent.items() if k[0] == "web" and k[3] == "200" and k[1] == "GET"}
    )
    for (_, _, template, _), count in pages.items():
        assert stack.value(f'sum(page_views_total{{route="{template}"}})') == count


def _recording_rules() -> list[str]:
    groups = yaml.safe_load((ROOT / "deploy/prometheus/rules/recording.yml").read_text())["groups"]
    return [rule["record"] for group in groups for rule in group["rules"]]


def test_recording_rules_produce_series(stack: Stack) -> None:
    """Every recording rule yields a series; the long-window group runs once a minute."""
    records = _recording_rules()
    assert records
    deadline = time.monotonic() + 90
    empty = records
    while empty and time.monotonic() < deadline:
        empty = [record for record in records if not stack.query(record)]
        time.sleep(1)
    assert empty == []


def _cookbook() -> list[str]:
    text = (ROOT / "docs/queries.md").read_text()
    return re.findall(r"```promql\n(.*?)```", text, flags=re.S)


def test_every_cookbook_query_returns_data(stack: Stack) -> None:
    """Each query in docs/queries.md returns at least one series from the real Prometheus."""
    queries = _cookbook()
    assert len(queries) >= 15
    empty = [query for query in queries if not stack.query(query)]
    assert empty == []
