"""`make bench --quick` still runs end to end and reports every row (no thresholds here)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench.appspeed_report import ROWS as APP_ROWS
from bench.middleware_cost import VARIANTS as IN_PROCESS_VARIANTS
from bench.overhead_apps import VARIANTS
from bench.web import PAGES
from bench.web_apps import VARIANTS as WEB_VARIANTS
from bench.web_apps import create_app as create_web_app
from folio_metrics import MetricsMiddleware

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_produces_every_row(tmp_path: Path) -> None:
    """The quick run writes every result file and a report with folio beside each peer."""
    if shutil.which("wrk") is None:
        reason = "wrk not found: install Debian's wrk package (.ci/run does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    report = tmp_path / "benchmarks.md"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--results-dir",
        str(tmp_path),
        "--report",
        str(report),
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    overhead = json.loads((tmp_path / "overhead.json").read_text())
    for configuration in ("plain", "fast"):
        variants = overhead["configurations"][configuration]["variants"]
        assert set(variants) == set(VARIANTS)
        assert variants["folio"]["rps"] > 0
        assert overhead["configurations"][configuration]["folio_minus_empty_cpu_us"]["n"] == 1
    in_process = overhead["in_process"]
    assert set(in_process["variants"]) == set(IN_PROCESS_VARIANTS)
    assert in_process["folio_minus_empty_us"]["median"] > 0
    assert in_process["profile"]
    counted = overhead["instructions"]["instructions_per_request"]
    assert counted["empty-middleware"] > counted["none"] > 0
    assert "### Instructions per request, in process" in report.read_text()
    appspeed = json.loads((tmp_path / "appspeed.json").read_text())
    rows = appspeed["backends"]["sqlite"]["after"]["rows"]
    assert set(rows) == {row.id for row in APP_ROWS}
    assert all(row["cpu_us_per_request"]["median"] > 0 for row in rows.values())
    for row in APP_ROWS:  # folio-web's rows also measure the folio-api process behind them
        api_cpu = rows[row.id].get("api_cpu_us_per_request", {"median": math.nan})["median"]
        assert math.isnan(api_cpu) == (row.service == "api"), row.id
    assert appspeed["backends"]["postgresql"] == {"skipped": "quick run"}
    scrape = json.loads((tmp_path / "scrape.json").read_text())
    assert scrape["render"]
    assert "folio" in scrape["during_scrape"]
    merge = json.loads((tmp_path / "merge.json").read_text())["result"]
    assert merge["folio_ms"] > 0
    assert merge["prometheus_client_ms"] > 0
    web = json.loads((tmp_path / "web.json").read_text())
    assert set(web["pages"]) == set(PAGES)
    for workload in [*web["pages"].values(), web["beacons"]]:
        assert set(workload["variants"]) == set(WEB_VARIANTS)
        assert all(row["rps"] > 0 for row in workload["variants"].values())
    assert web["beacons"]["per_core"] > 0
    text = report.read_text()
    assert "| folio |" in text
    assert "## App speed" in text
    assert "## folio against the empty middleware" in text
    assert "### The middleware alone, in process" in text
    assert "prometheus_client" in text
    assert "## folio-web" in text
    assert "## Multi-worker merge" in text
    assert "## Native histogram accuracy" in text
    accuracy = json.loads((tmp_path / "accuracy.json").read_text())
    assert [row["q"] for row in accuracy["quantiles"]] == [0.5, 0.9, 0.99]
    native = json.loads((tmp_path / "native.json").read_text())
    assert native["encoders"]["1000"]["identical_bytes"]
    assert native["sizes"]["1000"]["protobuf_native"]["bytes"] > 0
    assert "## Native histograms: scrape size" in text


def test_metrics_off_lost_only_the_http_metrics() -> None:
    """bench.web's metrics-off app runs without MetricsMiddleware and /api/metrics; on has both."""
    for variant in WEB_VARIANTS:
        app = create_web_app(variant)
        layers = []
        layer: object = app.build_middleware_stack()  # what Starlette builds at the first call
        while layer is not None and len(layers) < 50:
            layers.append(type(layer))
            layer = getattr(layer, "app", None)
        paths = {getattr(route, "path", None) for route in app.routes}
        shipped = variant == "metrics-on"
        assert (MetricsMiddleware in layers) == shipped, variant
        assert ("/api/metrics" in paths) == shipped, variant
