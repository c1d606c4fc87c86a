"""bench.appspeed runs the code it says it runs, and pairs its ratios round by round."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench.appspeed_report import ROWS, report_lines, summarise, target_rows
from bench.appspeed_stack import environment, extract, imported_from
from bench.overhead import VariantFailed


def test_the_before_code_is_the_one_imported(tmp_path: Path) -> None:
    """A commit extracted by git archive is what `python -m folio` imports, not the tree's."""
    before = tmp_path / "before"
    before.mkdir()
    extract("HEAD", before)
    url = f"sqlite+aiosqlite:///{tmp_path / 'folio.db'}"
    imported = imported_from(environment(before, url), before)
    assert Path(imported["folio"]).is_relative_to(before)
    assert Path(imported["folio_metrics"]).is_relative_to(before)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VariantFailed, match="not"):
        imported_from(environment(empty, url), empty)  # nothing there: the tree's would run


def _samples(cpu: dict[str, list[float]]) -> dict[str, list[dict[str, Any]]]:
    return {
        row: [
            {"round": r, "rps": 1e6 / us, "p99_ms": 10.0, "cpu_us_per_request": us}
            | ({"api_cpu_us_per_request": 50.0} if row.startswith("web") else {})
            for r, us in enumerate(values)
        ]
        for row, values in cpu.items()
    }


def test_ratios_pair_each_run_with_the_same_rounds_cheapest() -> None:
    """Health drifts from 100 to 300 µs between rounds: the ratio follows, round by round."""
    cpu = {row.id: [100.0, 300.0] for row in ROWS}
    cpu["api-project"] = [200.0, 330.0]  # 2.0x, then 1.1x: 1.55x, where medians say 1.33x
    cpu["web-about"] = [800.0, 800.0]
    cpu["web-home"] = [1500.0, 1500.0]  # within 2x, but 667 a core, short of 700
    cpu["web-project"] = [2400.0, 2400.0]
    rows = summarise(_samples(cpu), None)["rows"]
    assert rows["api-project"]["ratio_to_cheapest"]["median"] == pytest.approx(1.55)
    assert rows["api-project"]["met"] is True
    assert rows["web-home"]["ratio_to_cheapest"]["median"] == pytest.approx(1.875)
    assert rows["web-home"]["per_core"] == pytest.approx(1e6 / 1500)
    assert rows["web-home"]["met"] is False
    assert rows["web-project"]["met"] is False
    assert rows["web-project"]["api_cpu_us_per_request"]["median"] == 50.0


def test_the_report_puts_before_beside_after() -> None:
    """With a before, every figure has a before and an after column; aims judge the after."""
    after = summarise(_samples({row.id: [100.0, 100.0] for row in ROWS}), None)
    before = summarise(_samples({row.id: [400.0, 400.0] for row in ROWS}), None)
    result = {
        "settings": {"connections": 16, "duration": 3, "rounds": 2},
        "commits": {"before": "abc1234", "after": "working tree"},
        "backends": {"sqlite": {"before": before, "after": after}, "postgresql": {"skipped": "x"}},
        "commands": [],
        "versions": {},
    }
    text = "\n".join(report_lines(result))
    assert "| request | req/s before | req/s after |" in text
    project = next(line for line in text.splitlines() if "`GET /api/projects/{slug}`" in line)
    assert "| 2,500 | 10,000 |" in project  # req/s per core, before then after
    assert project.endswith("| yes |")
    assert "Skipped: x." in text
    assert len(target_rows(result)) == 4
    assert all(met for *_, met in target_rows(result))
