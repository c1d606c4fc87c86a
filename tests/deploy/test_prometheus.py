"""deploy/prometheus: promtool accepts it, and every alert is labelled, documented and tested.

The promtool checks need `promtool` on PATH (Debian's prometheus package): without it they
skip, or fail under CI=true. The other checks only read the YAML and docs/runbook.md.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.histogram_forms import one_sided
from tests.metrics.promtool import promtool

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus"
CONFIG = DEPLOY / "prometheus.yml"
RULE_FILES = sorted((DEPLOY / "rules").glob("*.yml"))
UNIT_TEST_FILES = sorted((DEPLOY / "tests").glob("*.yml"))
RUNBOOK = ROOT / "docs" / "runbook.md"
SEVERITIES = {"page", "ticket"}
FOLIO_JOBS = {"folio-api": "127.0.0.1:3001", "folio-web": "127.0.0.1:3000"}
RUNBOOK_PARTS = ("**Meaning.**", "**Impact.**", "**Investigate.**", "**Fix.**")
SECTION = re.compile(r"^## (?P<title>.+?)\s*$", re.MULTILINE)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _groups() -> list[dict[str, Any]]:
    return [group for path in RULE_FILES for group in _load(path)["groups"]]


def _alerts() -> dict[str, dict[str, Any]]:
    rules = [rule for group in _groups() for rule in group["rules"] if "alert" in rule]
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), f"alert names repeated: {sorted(names)}"
    return {rule["alert"]: rule for rule in rules}


def _promtool(*arguments: str, timeout: float = 60) -> str:
    """Run promtool from the repo root; assert it exits 0, showing its output if not."""
    command = [promtool(), *arguments]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output}"
    return output


def _relative(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(ROOT)) for path in paths]


def test_rule_and_unit_test_files_exist() -> None:
    """deploy/prometheus has the config, both rule files and at least one unit test file."""
    assert CONFIG.is_file()
    assert [path.name for path in RULE_FILES] == ["alerts.yml", "recording.yml"]
    assert UNIT_TEST_FILES, "no promtool unit tests in deploy/prometheus/tests/"


def test_promtool_check_config() -> None:
    """`promtool check config` accepts prometheus.yml and the rule files it names."""
    _promtool("check", "config", str(CONFIG.relative_to(ROOT)))


def test_promtool_check_rules_lint_fatal() -> None:
    """`promtool check rules --lint-fatal` accepts every rule file."""
    _promtool("check", "rules", "--lint-fatal", *_relative(RULE_FILES))


def test_promtool_test_rules() -> None:
    """`promtool test rules` passes every unit test file."""
    _promtool("test", "rules", *_relative(UNIT_TEST_FILES), timeout=600)


def test_config_is_what_the_launcher_expects() -> None:
    """prometheus.yml names both rule files and scrapes the three jobs with one target each."""
    config = _load(CONFIG)
    assert config["global"] == {
        "scrape_interval": "15s",
        "evaluation_interval": "15s",
        "scrape_timeout": "10s",
    }
    assert config["rule_files"] == ["rules/recording.yml", "rules/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {**FOLIO_JOBS, "prometheus": "127.0.0.1:9090"}
    assert set(jobs) == set(targets)
    for name, target in targets.items():
        assert jobs[name]["static_configs"] == [{"targets": [target]}], name
    for name in FOLIO_JOBS:
        assert jobs[name]["metrics_path"] == "/api/metrics", name
        assert "authorization" not in jobs[name], f"{name}: the launcher adds authorization"


def test_sample_limit_alert_matches_config() -> None:
    """FolioScrapeNearSampleLimit divides by the sample_limit the folio jobs have."""
    jobs = {job["job_name"]: job for job in _load(CONFIG)["scrape_configs"]}
    limits = {jobs[name]["sample_limit"] for name in FOLIO_JOBS}
    assert len(limits) == 1, f"the folio jobs' sample_limit differ: {limits}"
    expr = _alerts()["FolioScrapeNearSampleLimit"]["expr"]
    assert f"/ {limits.pop()} " in expr, expr


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    """Every alert has a severity label and summary, description and runbook_url annotations."""
    alerts = _alerts()
    assert alerts
    for name, rule in alerts.items():
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        for key in ("summary", "description"):
            assert str(annotations.get(key, "")).strip(), f"{name} has no {key}"
        assert annotations.get("runbook_url") == f"docs/runbook.md#{name.lower()}", name


def test_runbook_has_a_section_for_each_alert_and_no_other() -> None:
    """docs/runbook.md has one `## <alert>` section per alert, each with its four parts."""
    text = RUNBOOK.read_text(encoding="utf-8")
    titles = [match["title"] for match in SECTION.finditer(text)]
    alerts = set(_alerts())
    assert len(titles) == len(set(titles)), f"sections repeated: {sorted(titles)}"
    assert not alerts - set(titles), f"alerts without a section: {sorted(alerts - set(titles))}"
    assert not set(titles) - alerts, f"sections without an alert: {sorted(set(titles) - alerts)}"
    bodies = SECTION.split(text)[2::2]
    for title, body in zip(titles, bodies, strict=True):
        missing = [part for part in RUNBOOK_PARTS if part not in body]
        assert not missing, f"section {title} lacks {missing}"


def _records() -> dict[str, str]:
    return {
        rule["record"]: rule["expr"]
        for group in _groups()
        for rule in group["rules"]
        if "record" in rule
    }


def _mentions(expr: str, name: str) -> bool:
    """Whether the PromQL `expr` names the metric (or recorded series) `name`."""
    return re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", expr) is not None


def _expanded(expr: str, records: dict[str, str]) -> str:
    """`expr` followed by the expressions of the recording rules it reads, recursively."""
    parts, pending, seen = [expr], [expr], set[str]()
    while pending:
        text = pending.pop()
        for record, body in records.items():
            if record not in seen and _mentions(text, record):
                seen.add(record)
                parts.append(body)
                pending.append(body)
    return "\n".join(parts)


def _test_cases() -> list[tuple[str, str, set[str], dict[str, Any]]]:
    """(file, test name, metric names of its input series, case) per alert_rule_test case."""
    cases: list[tuple[str, str, set[str], dict[str, Any]]] = []
    for path in UNIT_TEST_FILES:
        for group in _load(path)["tests"]:
            names = {
                str(s["series"]).split("{", 1)[0].strip() for s in group.get("input_series", [])
            }
            for case in group.get("alert_rule_test", []):
                cases.append((path.name, str(group.get("name", "")), names, case))
    return cases


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    """Each alert has a promtool case where it fires and one where it does not.

    A "does not fire" case counts only when its test feeds a series the alert reads
    (directly or through recording rules), since an alert is trivially quiet without data.
    Other quiet cases are allowed (e.g. a 409 storm with no db_query_errors_total at all).
    """
    alerts = _alerts()
    records = _records()
    reads = {name: _expanded(rule["expr"], records) for name, rule in alerts.items()}
    firing: set[str] = set()
    quiet: set[str] = set()
    for _file, _test, inputs, case in _test_cases():
        name = case["alertname"]
        if name not in alerts:
            continue
        if case.get("exp_alerts"):
            firing.add(name)
        elif any(_mentions(reads[name], series) for series in inputs):
            quiet.add(name)
    unknown = {case["alertname"] for *_, case in _test_cases()} - set(alerts)
    assert not unknown, f"tests name alerts that do not exist: {sorted(unknown)}"
    assert not set(alerts) - firing, f"never tested firing: {sorted(set(alerts) - firing)}"
    assert not set(alerts) - quiet, (
        f"never tested not firing on data it reads: {sorted(set(alerts) - quiet)}"
    )


AVAILABILITY_BURN = {f"FolioApiAvailabilityBurn{speed}" for speed in ("Fast", "Medium", "Slow")}
LATENCY_BURN = {f"FolioApiLatencyBurn{speed}" for speed in ("Fast", "Medium", "Slow")}
# The harmless scenarios in deploy/prometheus/tests/harmless_test.yml, each a test named
# "harmless: <scenario>", and the alerts each must at least check (None: every alert).
HARMLESS: dict[str, set[str] | None] = {
    "409 storm": {"FolioDatabaseErrors", "FolioHigh5xxRatio", *AVAILABILITY_BURN},
    "slow anonymous uploads": {"FolioHighLatencyP95", *LATENCY_BURN},
    "spray of random methods and paths": {
        "FolioHigh5xxRatio",
        "FolioHighLatencyP95",
        "FolioMetricsSeriesOverflow",
        "FolioWebApiCallErrors",
        *AVAILABILITY_BURN,
        *LATENCY_BURN,
    },
    "Prometheus restart": None,
    "folio-api restart": {
        "FolioTargetDown",
        "FolioMetricsSeriesOverflow",
        "FolioHigh5xxRatio",
        "FolioDatabaseErrors",
        "FolioWebApiCallErrors",
        "FolioEventLoopLag",
        *AVAILABILITY_BURN,
        *LATENCY_BURN,
    },
    "worker recycling": {
        "FolioEventLoopLag",
        "FolioHigh5xxRatio",
        "FolioHighLatencyP95",
        "FolioMetricsSeriesOverflow",
    },
    "a new folio-api instance starts": {
        "FolioEventLoopLag",
        "FolioTargetDown",
        "FolioMetricsSeriesOverflow",
    },
}


def test_harmless_scenarios_page_nobody() -> None:
    """No "harmless: ..." test lets an alert fire or even pend, and each checks its alerts.

    Besides its alert_rule_test cases at chosen times, each scenario has a promql_expr_test
    that expects no ALERTS series (firing or pending) over its whole run.
    """
    alerts = set(_alerts())
    covered: dict[str, set[str]] = {}
    for path in UNIT_TEST_FILES:
        for group in _load(path)["tests"]:
            test = str(group.get("name", ""))
            if not test.startswith("harmless: "):
                continue
            scenario = test.removeprefix("harmless: ")
            for case in group.get("alert_rule_test", []):
                name = case["alertname"]
                assert not case.get("exp_alerts"), f"{path.name}: {test!r} expects {name} to fire"
                covered.setdefault(scenario, set()).add(name)
            quiet_throughout = [
                case
                for case in group.get("promql_expr_test", [])
                if _mentions(case["expr"], "ALERTS") and not case.get("exp_samples")
            ]
            assert quiet_throughout, f"{path.name}: {test!r} has no check that ALERTS is empty"
    missing_tests = set(HARMLESS) - set(covered)
    assert not missing_tests, f"harmless scenarios without a test: {sorted(missing_tests)}"
    for scenario, wanted in HARMLESS.items():
        expected = alerts if wanted is None else wanted
        assert expected <= alerts, f"{scenario}: no such alerts {sorted(expected - alerts)}"
        missing = expected - covered[scenario]
        assert not missing, f"harmless: {scenario} never checks {sorted(missing)}"


def test_unit_tests_load_every_rule_file_in_a_fixed_group_order() -> None:
    """Each unit test file loads both rule files and orders every group, recording first."""
    groups = _groups()
    recording = [g["name"] for g in groups if all("record" in r for r in g["rules"])]
    alerting = [g["name"] for g in groups if all("alert" in r for r in g["rules"])]
    assert len(recording) + len(alerting) == len(groups), "a group mixes records and alerts"
    for path in UNIT_TEST_FILES:
        tests = _load(path)
        loaded = {(path.parent / name).resolve() for name in tests["rule_files"]}
        assert loaded == {rules.resolve() for rules in RULE_FILES}, path.name
        order = tests.get("group_eval_order", [])
        assert sorted(order) == sorted(recording + alerting), f"{path.name}: {order}"
        assert set(order[: len(recording)]) == set(recording), f"{path.name}: {order}"


def test_rules_read_native_histograms_in_both_forms() -> None:
    """Each rule on a native family reads its native series and its classic ones.

    2.40-2.44 with native histograms on keep only the native series; without the feature
    only the classic ones exist. The unit tests feed classic series, so they run the
    classic half; this keeps the native half from being left out.
    """
    exprs = [str(rule["expr"]) for group in _groups() for rule in group["rules"]]
    assert one_sided(exprs) == []
