"""`make bench --quick` still runs end to end and reports every row (no thresholds here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bench.overhead_apps import VARIANTS

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_produces_every_row(tmp_path: Path) -> None:
    """The quick run writes both result files and a report with folio beside each peer."""
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
    scrape = json.loads((tmp_path / "scrape.json").read_text())
    assert scrape["render"]
    assert "folio" in scrape["during_scrape"]
    text = report.read_text()
    assert "| folio |" in text
    assert "prometheus_client" in text
