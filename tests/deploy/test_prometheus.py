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


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    """Each alert has a promtool case where it fires and one where it does not."""
    alerts = set(_alerts())
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TEST_FILES:
        for group in _load(path)["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    unknown = (firing | quiet) - alerts
    assert not unknown, f"tests name alerts that do not exist: {sorted(unknown)}"
    assert not alerts - firing, f"never tested firing: {sorted(alerts - firing)}"
    assert not alerts - quiet, f"never tested not firing: {sorted(alerts - quiet)}"


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
