"""The whole stack under `folio run`, scraped by a real Prometheus after `folio loadgen`."""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from folio.dashboards.promql import NATIVE_HISTOGRAMS
from folio.stack.alertmanager import alertmanager_binary
from tests.ci import unavailable
from tests.integration.conftest import Stack
from tests.test_docs_metrics import DOC, FAMILY_HEADER, NAME, PARTS, SHARED, _rows

ROOT = Path(__file__).resolve().parents[2]
# Families that only have series once something goes wrong, which loadgen does not cause.
ONLY_ON_TROUBLE = {
    "db_query_errors_total",
    "db_constraint_violations_total",
    "folio_metrics_errors_total",
}


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
        types = re.search(
            rf"^\| `{name}` \| (counter|gauge|histogram|info) \|", DOC.read_text(), flags=re.M
        )
        histogram = types is not None and types[1] == "histogram"
        # 2.42 with native histograms on keeps NAME and drops NAME_count for native families.
        series_name = f"{name}_count" if histogram and name not in NATIVE_HISTOGRAMS else name
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


def test_prometheus_sends_alerts_to_the_alertmanager_folio_run_started(stack: Stack) -> None:
    """With Alertmanager installed, `folio run` starts it and Prometheus lists it as active."""
    if alertmanager_binary() is None:
        unavailable(
            "no alertmanager on PATH: install Debian's prometheus-alertmanager (.ci/run does)"
        )
    status = httpx.get(f"{stack.alertmanager}/api/v2/status", timeout=5)
    assert status.status_code == 200
    receivers = {
        receiver["name"]
        for receiver in yaml.safe_load(status.json()["config"]["original"])["receivers"]
    }
    assert {"folio-page", "folio-ticket"} <= receivers
    listed = httpx.get(f"{stack.prometheus}/api/v1/alertmanagers", timeout=5).json()["data"]
    assert [entry["url"] for entry in listed["activeAlertmanagers"]] == [
        f"{stack.alertmanager}/api/v2/alerts"
    ]


def test_request_durations_are_native_in_prometheus_and_classic_in_text(stack: Stack) -> None:
    """Prometheus 2.42 with native histograms on stores folio-api's durations natively (and,
    being 2.42, drops their classic buckets); a text scrape still has the classic buckets."""
    rate = 'histogram_count(rate(http_request_duration_seconds{job="folio-api"}[1m]))'
    assert stack.query(rate)
    stored = stack.value('sum(histogram_count(http_request_duration_seconds{job="folio-api"}))')
    assert stored >= sum(n for (service, *_), n in stack.sent.sent.items() if service == "api")
    assert stack.query('http_request_duration_seconds_bucket{job="folio-api"}') == []
    text = httpx.get(f"{stack.api}/api/metrics", timeout=5).text
    assert "http_request_duration_seconds_bucket{" in text
    assert "http_request_size_bytes_bucket{" in text
