"""`folio run` writes a Prometheus config from deploy/prometheus/prometheus.yml."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from folio.stack.prometheus import (
    Targets,
    command,
    deploy_dir,
    histogram_settings,
    prometheus_binary,
    version,
    write_config,
)
from tests.metrics.promtool import promtool

TARGETS = Targets("127.0.0.1:4001", "127.0.0.1:4000", "127.0.0.1:4090")


def _jobs(path: Path) -> dict[str, dict[str, object]]:
    config = yaml.safe_load(path.read_text())
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_targets_and_rule_files_are_rewritten(tmp_path: Path) -> None:
    """Each job points at its service, and rule files resolve from anywhere."""
    path = write_config(tmp_path, TARGETS)
    jobs = _jobs(path)
    assert jobs["folio-api"]["static_configs"] == [{"targets": ["127.0.0.1:4001"]}]
    assert jobs["folio-web"]["static_configs"] == [{"targets": ["127.0.0.1:4000"]}]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:4090"]}]
    rule_files = yaml.safe_load(path.read_text())["rule_files"]
    assert rule_files
    assert all(Path(rule).is_absolute() and Path(rule).exists() for rule in rule_files)
    assert "authorization" not in jobs["folio-api"]


def test_a_short_interval_runs_every_rule_group_that_often(tmp_path: Path) -> None:
    """--scrape-interval 1s evaluates the long-window group every second too, not each minute;
    the shipped rules stay as they are, and the copies hold the same rules."""
    shipped = yaml.safe_load(write_config(tmp_path / "default", TARGETS).read_text())
    assert any(
        "interval" in group
        for rule_file in shipped["rule_files"]
        for group in yaml.safe_load(Path(rule_file).read_text())["groups"]
    )
    config = yaml.safe_load(write_config(tmp_path / "fast", TARGETS, interval="1s").read_text())
    assert len(config["rule_files"]) == len(shipped["rule_files"])
    for copy, original in zip(config["rule_files"], shipped["rule_files"], strict=True):
        assert Path(copy).is_relative_to(tmp_path / "fast")
        groups = yaml.safe_load(Path(copy).read_text())["groups"]
        assert {group["interval"] for group in groups} == {"1s"}
        originals = yaml.safe_load(Path(original).read_text())["groups"]
        assert [group["rules"] for group in groups] == [group["rules"] for group in originals]


def test_token_goes_to_a_private_file_for_folio_jobs_only(tmp_path: Path) -> None:
    """With a metrics token, the folio jobs read it from a file only its owner can read."""
    jobs = _jobs(write_config(tmp_path, TARGETS, token="s3cret"))
    authorization = jobs["folio-web"]["authorization"]
    assert isinstance(authorization, dict)
    token_file = Path(authorization["credentials_file"])
    assert token_file.read_text() == "s3cret"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert jobs["folio-api"]["authorization"] == authorization
    assert "authorization" not in jobs["prometheus"]
    assert "s3cret" not in (tmp_path / "prometheus.yml").read_text()


def test_interval_override(tmp_path: Path) -> None:
    """A test interval sets scrape, evaluation and timeout together (timeout <= interval)."""
    config = yaml.safe_load(write_config(tmp_path, TARGETS, interval="1s").read_text())
    assert config["global"] == {
        "scrape_interval": "1s",
        "evaluation_interval": "1s",
        "scrape_timeout": "1s",
    }


def test_the_repo_config_is_found() -> None:
    """deploy/ is found from the checkout, whatever the working directory."""
    assert (deploy_dir() / "prometheus" / "prometheus.yml").is_file()


def test_alerts_go_to_the_alertmanager_named_or_nowhere(tmp_path: Path) -> None:
    """With an Alertmanager, alerting targets it alone; without one, there is no alerting."""
    config = yaml.safe_load(write_config(tmp_path / "a", TARGETS, alertmanager="h:9").read_text())
    assert config["alerting"] == {"alertmanagers": [{"static_configs": [{"targets": ["h:9"]}]}]}
    assert "alerting" not in yaml.safe_load(write_config(tmp_path / "b", TARGETS).read_text())


def test_prometheus_starts_with_native_histograms_on(tmp_path: Path) -> None:
    """`folio run` starts Prometheus with the native-histograms feature flag."""
    line = command("prometheus", tmp_path / "prometheus.yml", tmp_path / "data", "h:9090")
    assert "--enable-feature=native-histograms" in line


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        (None, {}),
        ((2, 42), {}),
        ((2, 45), {"scrape_classic_histograms": True}),
        ((3, 7), {"always_scrape_classic_histograms": True}),
        ((3, 8), {"always_scrape_classic_histograms": True, "scrape_native_histograms": True}),
        ((3, 9), {"always_scrape_classic_histograms": True, "scrape_native_histograms": True}),
    ],
)
def test_histogram_settings_follow_the_version(
    release: tuple[int, int] | None, expected: dict[str, bool]
) -> None:
    """Each version gets the keys it knows that keep classic series beside native ones."""
    assert histogram_settings(release) == expected


def test_only_the_folio_jobs_get_histogram_settings(tmp_path: Path) -> None:
    """The settings go onto the folio jobs, and none onto Prometheus's own job."""
    jobs = _jobs(write_config(tmp_path, TARGETS, release=(3, 8)))
    for name in ("folio-api", "folio-web"):
        assert jobs[name]["scrape_native_histograms"] is True
        assert jobs[name]["always_scrape_classic_histograms"] is True
    assert "scrape_native_histograms" not in jobs["prometheus"]


def test_the_installed_prometheus_accepts_what_is_written_for_it(tmp_path: Path) -> None:
    """promtool of the installed version passes the config written for that version.

    The same promtool refuses the 3.8 config, so the keys really depend on the version.
    """
    binary = prometheus_binary()
    release = version(binary)
    if binary is None or release is None:
        pytest.skip("no prometheus on PATH")
    written = write_config(tmp_path / "installed", TARGETS, release=release)
    check = [promtool(), "check", "config", "--syntax-only", str(written)]
    result = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    if release < (3, 8):
        newer = write_config(tmp_path / "newer", TARGETS, release=(3, 8))
        check[-1] = str(newer)
        refused = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode != 0
        assert "scrape_native_histograms" in refused.stdout + refused.stderr
