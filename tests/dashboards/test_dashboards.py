"""The committed dashboards are what the code generates, and follow folio's conventions."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from folio.dashboards import BUILDERS, stale, write
from folio.dashboards.model import DATASOURCE_UID, SCHEMA_VERSION
from tests.dashboards.panels import DASHBOARDS, load, names, query_variables, targets
from tests.deploy.histogram_forms import one_sided

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
UNITS = {"s", "bytes", "reqps", "percentunit", "ops", "none"}


def test_committed_json_is_not_stale() -> None:
    """deploy/grafana/dashboards holds exactly what `python -m folio.dashboards` writes."""
    assert names() == sorted(BUILDERS)
    assert stale(DASHBOARDS) == [], "run `python -m folio.dashboards` and commit the result"


def test_a_changed_file_is_reported_stale(tmp_path: Path) -> None:
    """The staleness check notices an edited file and a missing one."""
    write(tmp_path)
    assert stale(tmp_path) == []
    edited = tmp_path / "folio-api.json"
    edited.write_text(edited.read_text().replace("Request rate", "Requests"))
    (tmp_path / "folio-slo.json").unlink()
    assert stale(tmp_path) == ["folio-api.json", "folio-slo.json"]


def test_check_command_exits_1_when_stale(tmp_path: Path) -> None:
    """`python -m folio.dashboards --check DIR` fails when stale and passes once written."""
    command = [sys.executable, "-m", "folio.dashboards", "--check", str(tmp_path)]
    before = subprocess.run(command, capture_output=True, text=True, check=False)
    assert before.returncode == 1
    assert "stale" in before.stderr
    subprocess.run([sys.executable, "-m", "folio.dashboards", str(tmp_path)], check=True)
    assert subprocess.run(command, check=False).returncode == 0


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_classic_model_with_a_datasource_variable(name: str) -> None:
    """Current schemaVersion, a unique uid, and every panel and target uses ${datasource}."""
    dashboard = load(name)
    assert dashboard["schemaVersion"] == SCHEMA_VERSION
    assert dashboard["uid"] == name.removesuffix(".json")
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["current"]["value"] == DATASOURCE_UID
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("folio-api.json", {"job", "instance", "endpoint"}),
        ("folio-web.json", {"job", "instance", "route"}),
        ("folio-slo.json", {"job"}),
    ],
)
def test_templating_variables(name: str, expected: set[str]) -> None:
    """Each dashboard filters by exactly the variables listed here, each used by some panel."""
    variables = {v["name"] for v in query_variables(name)}
    assert variables == expected
    text = json.dumps(load(name)["panels"])
    assert all(f"${variable}" in text for variable in variables)


def test_every_panel_has_a_unit_a_description_and_a_place() -> None:
    """Units come from folio's list, each panel says what it answers, and none overlap."""
    for name in BUILDERS:
        cells: set[tuple[int, int]] = set()
        for panel in load(name)["panels"]:
            grid = panel["gridPos"]
            area = {
                (grid["x"] + dx, grid["y"] + dy)
                for dx in range(grid["w"])
                for dy in range(grid["h"])
            }
            assert not cells & area, (name, panel["title"])
            assert grid["x"] + grid["w"] <= 24
            cells |= area
            if panel["type"] != "row":
                assert panel["fieldConfig"]["defaults"]["unit"] in UNITS, panel["title"]
                assert panel["description"].endswith((".", "?")), panel["title"]


def test_the_datasource_uid_is_provisioned() -> None:
    """The provisioned datasource has the uid the dashboards default to, its URL from the env."""
    config = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (datasource,) = config["datasources"]
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "$PROMETHEUS_URL"


def test_the_dashboard_provider_reads_files() -> None:
    """One file provider, in a folio folder, that the UI cannot overwrite."""
    config = yaml.safe_load((PROVISIONING / "dashboards" / "folio.yml").read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["allowUiUpdates"] is False
    assert provider["options"]["path"].startswith("/")


def test_docs_describe_every_panel() -> None:
    """docs/dashboards.md names each panel under its dashboard's heading."""
    text = (ROOT / "docs" / "dashboards.md").read_text()
    missing = []
    for name in BUILDERS:
        section = re.search(rf"^## .*`{name}`.*?(?=^## |\Z)", text, flags=re.M | re.S)
        assert section, f"docs/dashboards.md has no section for {name}"
        for target in {t.panel for t in targets() if t.dashboard == name}:
            if f"| {target} |" not in section[0]:
                missing.append((name, target))
    assert missing == []


def test_panels_read_native_histograms_in_both_forms() -> None:
    """Each panel query on a native family reads the native series, else the classic ones."""
    assert one_sided([target.expr for target in targets()]) == []
