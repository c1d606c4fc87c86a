"""`folio run` writes a Prometheus config from deploy/prometheus/prometheus.yml."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from folio.stack.prometheus import Targets, deploy_dir, write_config

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
