"""deploy/compose.yaml, checked without Docker against the Dockerfile, the apps and Prometheus."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from folio.api.settings import ApiSettings
from folio.cli import DEFAULT_PORTS
from folio.web.settings import WebSettings
from tests.deploy.dockerfile import ROOT, healthcheck, stages
from tests.metrics.promtool import promtool

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SERVICES = {"folio-api": ("api", ApiSettings), "folio-web": ("web", WebSettings)}
ALERTMANAGER_PORT = 9093
ALERTMANAGER_DIR = "/etc/alertmanager"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def _services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = _compose()["services"]
    return services


def test_the_stack_has_every_service_with_a_healthcheck() -> None:
    """postgres, both folio services, Prometheus, Alertmanager, Grafana, each with a healthcheck."""
    services = _services()
    assert set(services) == {
        "postgres",
        "folio-api",
        "folio-web",
        "prometheus",
        "alertmanager",
        "grafana",
    }
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_services_start_only_after_what_they_need_is_healthy() -> None:
    """Each depends_on waits for health: postgres, then api, web, Prometheus, Grafana."""
    services = _services()
    needs = {
        name: {dep: spec["condition"] for dep, spec in service.get("depends_on", {}).items()}
        for name, service in services.items()
    }
    assert needs["folio-api"] == {"postgres": "service_healthy"}
    assert needs["folio-web"] == {"folio-api": "service_healthy"}
    assert set(needs["prometheus"]) == {"folio-api", "folio-web"}
    assert needs["grafana"] == {"prometheus": "service_healthy"}
    # Prometheus re-sends what it could not deliver, so it need not wait for Alertmanager.
    assert needs["alertmanager"] == {}
    assert all(c == "service_healthy" for deps in needs.values() for c in deps.values())


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_folio_services_build_the_dockerfile_targets(name: str) -> None:
    """The build target exists, the healthcheck is the image's, the port the app's default."""
    kind, _ = SERVICES[name]
    service = _services()[name]
    context = (DEPLOY / service["build"]["context"]).resolve()
    assert (context / service["build"]["dockerfile"]).is_file()
    assert service["build"]["target"] in stages()
    assert service["build"]["target"] == kind
    assert service["healthcheck"]["test"] == ["CMD", *healthcheck(kind)]
    assert service["ports"] == [f"{DEFAULT_PORTS[kind]}:{DEFAULT_PORTS[kind]}"]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_folio_variable_is_a_setting(name: str) -> None:
    """Each FOLIO_* variable the stack sets is a field of that service's settings."""
    _, settings = SERVICES[name]
    fields = {f"FOLIO_{field.upper()}" for field in settings.model_fields}
    variables = set(_services()[name]["environment"])
    assert variables
    assert variables - fields == set()


def test_the_services_find_each_other() -> None:
    """web calls the api service, web and Grafana read the prometheus service, on their ports."""
    services = _services()
    web = services["folio-web"]["environment"]
    api_url = urlsplit(web["FOLIO_API_URL"])
    assert (api_url.hostname, api_url.port) == ("folio-api", DEFAULT_PORTS["api"])
    assert urlsplit(web["FOLIO_PROMETHEUS_URL"]).hostname == "prometheus"
    assert services["grafana"]["environment"]["PROMETHEUS_URL"] == web["FOLIO_PROMETHEUS_URL"]
    database = urlsplit(services["folio-api"]["environment"]["FOLIO_DATABASE_URL"])
    assert database.hostname == "postgres"


def test_mounted_files_exist_and_data_is_kept_in_volumes() -> None:
    """Every bind mount names a path in the repo; postgres and Prometheus keep data in volumes."""
    volumes = set(_compose()["volumes"])
    for name, service in _services().items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
            else:
                assert source in volumes, (name, source)
    assert any(m.startswith("postgres-data:") for m in _services()["postgres"]["volumes"])


def test_grafana_mounts_where_the_provisioning_looks() -> None:
    """The dashboards land where the provider reads them, and provisioning where Grafana looks."""
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/folio.yml").read_text())
    targets = {m.split(":")[1] for m in _services()["grafana"]["volumes"]}
    assert provider["providers"][0]["options"]["path"] in targets
    assert "/etc/grafana/provisioning/datasources" in targets


def _flags(service: dict[str, Any]) -> dict[str, str]:
    """`--name=value` arguments of a service's command, by name."""
    pairs = (arg.removeprefix("--").split("=", 1) for arg in service["command"])
    return {name: value for name, value in pairs}


def test_alertmanager_runs_the_repo_config() -> None:
    """A pinned prom/alertmanager reads deploy/alertmanager/ mounted read-only, on :9093."""
    service = _services()["alertmanager"]
    assert re.fullmatch(r"prom/alertmanager:v\d+\.\d+\.\d+", service["image"]), service["image"]
    assert f"./alertmanager:{ALERTMANAGER_DIR}:ro" in service["volumes"]
    flags = _flags(service)
    config = PurePosixPath(flags["config.file"])
    assert config.parent == PurePosixPath(ALERTMANAGER_DIR)
    assert (DEPLOY / "alertmanager" / config.name).is_file()
    # Silences and the notification log survive a restart; one instance, no gossip mesh.
    storage = flags["storage.path"]
    assert any(m.startswith(f"alertmanager-data:{storage}") for m in service["volumes"])
    assert flags["cluster.listen-address"] == ""
    assert service["ports"] == [f"{ALERTMANAGER_PORT}:{ALERTMANAGER_PORT}"]
    assert f"127.0.0.1:{ALERTMANAGER_PORT}/-/ready" in " ".join(service["healthcheck"]["test"])


def _alertmanagers(path: Path) -> list[dict[str, Any]]:
    alertmanagers: list[dict[str, Any]] = yaml.safe_load(path.read_text())["alerting"][
        "alertmanagers"
    ]
    return alertmanagers


def test_prometheus_sends_alerts_to_alertmanager() -> None:
    """compose.yml targets the alertmanager service; prometheus.yml the same port locally."""
    compose = _alertmanagers(DEPLOY / "prometheus/compose.yml")
    assert compose == [{"static_configs": [{"targets": [f"alertmanager:{ALERTMANAGER_PORT}"]}]}]
    main = _alertmanagers(DEPLOY / "prometheus/prometheus.yml")
    assert main == [{"static_configs": [{"targets": [f"127.0.0.1:{ALERTMANAGER_PORT}"]}]}]


def _jobs(path: Path) -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(path.read_text())
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_compose_prometheus_matches_the_main_config() -> None:
    """Same jobs, paths, guard rails and rules as prometheus.yml; only the targets differ."""
    main, compose = DEPLOY / "prometheus/prometheus.yml", DEPLOY / "prometheus/compose.yml"
    main_jobs, compose_jobs = _jobs(main), _jobs(compose)
    assert set(main_jobs) == set(compose_jobs)
    for name in main_jobs:
        expected = {k: v for k, v in main_jobs[name].items() if k != "static_configs"}
        assert {k: v for k, v in compose_jobs[name].items() if k != "static_configs"} == expected
    for name, (kind, _) in SERVICES.items():
        targets = compose_jobs[name]["static_configs"][0]["targets"]
        assert targets == [f"{name}:{DEFAULT_PORTS[kind]}"]
    assert (
        yaml.safe_load(compose.read_text())["rule_files"]
        == yaml.safe_load(main.read_text())["rule_files"]
    )


# Global keys compose.yml sets for its Prometheus 3.8 that the promtool here (Debian's
# 2.42) does not know, and so refuses. Each turns native histograms on and keeps the
# classic series beside them; nothing else is removed before the check.
NEWER_THAN_PROMTOOL = {"scrape_native_histograms": True, "always_scrape_classic_histograms": True}


def test_compose_prometheus_scrapes_native_and_classic_histograms() -> None:
    """compose.yml turns native histograms on and keeps the classic series too."""
    config = yaml.safe_load((DEPLOY / "prometheus/compose.yml").read_text())
    assert {key: config["global"].get(key) for key in NEWER_THAN_PROMTOOL} == NEWER_THAN_PROMTOOL
    image = _services()["prometheus"]["image"]
    release = tuple(int(part) for part in image.rsplit(":v", 1)[1].split(".")[:2])
    assert release >= (3, 8), f"{image}: scrape_native_histograms needs 3.8 or later"


def test_promtool_accepts_the_compose_prometheus_config(tmp_path: Path) -> None:
    """`promtool check config` passes, rule files included, less the keys 2.42 lacks."""
    source = DEPLOY / "prometheus/compose.yml"
    config = yaml.safe_load(source.read_text())
    for key in NEWER_THAN_PROMTOOL:
        del config["global"][key]
    config["rule_files"] = [str((source.parent / name).resolve()) for name in config["rule_files"]]
    checked = tmp_path / "compose.yml"
    checked.write_text(yaml.safe_dump(config, sort_keys=False))
    result = subprocess.run(
        [promtool(), "check", "config", str(checked)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
