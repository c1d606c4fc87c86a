"""deploy/alertmanager: amtool accepts it, every alert reaches its receiver, inhibitions hold.

The routes are tested with `amtool config routes test` for every alert in
deploy/prometheus/rules/alerts.yml, the templates with `amtool template render`, and the
inhibitions twice: against a model of Alertmanager's matching in Python, and in a real
Alertmanager that is sent the alerts. amtool and alertmanager come from Debian's
prometheus-alertmanager package: without them those tests skip, or fail under CI=true.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.ci import unavailable
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "alertmanager"
CONFIG = DEPLOY / "alertmanager.yml"
TEMPLATES = DEPLOY / "templates"
TEMPLATE_GLOB = str(TEMPLATES / "*.tmpl")
ALERT_RULES = ROOT / "deploy" / "prometheus" / "rules" / "alerts.yml"
DOC = ROOT / "docs" / "alerting.md"
RECEIVERS = {"page": "folio-page", "ticket": "folio-ticket"}
DEFAULT_RECEIVER = "folio-ticket"
JOBS = ("folio-api", "folio-web")
EXAMPLES = ("pagerduty_configs", "slack_configs", "email_configs")
PACKAGE = "install Debian's prometheus-alertmanager package"
MATCHER = re.compile(r'^\s*(\w+)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|(\S*))\s*$')
SITE_URL = re.compile(r'{{ define "folio.site_url" }}(?P<url>[^{}\s]*){{ end }}')

# Alerts as Prometheus sends them: the rule's labels plus what its expression keeps.
API_DOWN = {"alertname": "FolioTargetDown", "job": "folio-api", "instance": "127.0.0.1:3001"}
WEB_DOWN = {"alertname": "FolioTargetDown", "job": "folio-web", "instance": "127.0.0.1:3000"}
TARGETS: dict[str, dict[str, str]] = {
    "api-calls": {"alertname": "FolioWebApiCallErrors", "endpoint": "/api/projects"},
    "web-5xx": {"alertname": "FolioHigh5xxRatio", "job": "folio-web"},
    "api-5xx": {"alertname": "FolioHigh5xxRatio", "job": "folio-api"},
    "web-latency": {"alertname": "FolioHighLatencyP95", "job": "folio-web", "endpoint": "/"},
    "api-db": {
        "alertname": "FolioDatabaseErrors",
        "job": "folio-api",
        "instance": "127.0.0.1:3001",
        "operation": "select",
        "type": "OperationalError",
    },
    "web-loop": {
        "alertname": "FolioEventLoopLag",
        "job": "folio-web",
        "instance": "127.0.0.1:3000",
    },
    "api-burn": {"alertname": "FolioApiAvailabilityBurnFast", "job": "folio-api"},
    "api-samples": {
        "alertname": "FolioScrapeNearSampleLimit",
        "job": "folio-api",
        "instance": "127.0.0.1:3001",
    },
    "web-down": WEB_DOWN,
}
# Which targets each source mutes; every other target must still be sent.
INHIBITED = {
    "api-down": {"api-calls", "web-5xx", "api-5xx", "api-db"},
    "web-down": {"web-5xx", "web-latency", "web-loop"},
}
SOURCES = {"api-down": API_DOWN, "web-down": WEB_DOWN}


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.cache
def _config() -> Any:
    return _load(CONFIG)


@functools.cache
def _alerts() -> dict[str, dict[str, Any]]:
    groups = _load(ALERT_RULES)["groups"]
    return {rule["alert"]: rule for g in groups for rule in g["rules"] if "alert" in rule}


def _labelled(labels: dict[str, str]) -> dict[str, str]:
    """``labels`` with the static labels (severity, slo) of the alert rule they name."""
    return {**_alerts()[labels["alertname"]].get("labels", {}), **labels}


def _tool(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    unavailable(f"{' or '.join(names)} not found: {PACKAGE} (.ci/run should)")


def _amtool(*arguments: str, cwd: Path = ROOT) -> str:
    """Run amtool; assert it exits 0, showing its output if not; return its stdout."""
    command = [_tool("amtool"), *arguments]
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{output}"
    return result.stdout


def _render(text: str, alerts: list[dict[str, Any]], tmp_path: Path, *globs: str) -> str:
    """`amtool template render` of ``text`` for a notification holding ``alerts``."""
    common = dict.fromkeys(["alertname", "job", "severity"], "")
    for key in common:
        values = {alert["labels"].get(key, "") for alert in alerts}
        common[key] = values.pop() if len(values) == 1 else ""
    data = {
        "receiver": "folio-page",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "startsAt": "2025-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": f"{index:016x}",
                **alert,
            }
            for index, alert in enumerate(alerts)
        ],
        "groupLabels": {k: common[k] for k in ("alertname", "job") if common[k]},
        "commonLabels": {k: v for k, v in common.items() if v},
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
    }
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    flags = [f"--template.glob={glob}" for glob in (globs or (TEMPLATE_GLOB,))]
    return _amtool(
        "template", "render", *flags, f"--template.text={text}", f"--template.data={path}"
    )


def _rule_alerts() -> list[dict[str, Any]]:
    """Every alert of alerts.yml as Alertmanager would get it (job from its expression)."""
    alerts = []
    for name, rule in _alerts().items():
        job = "folio-web" if "folio-api" not in rule["expr"] else "folio-api"
        labels = {"alertname": name, "job": job, **rule.get("labels", {})}
        alerts.append({"labels": labels, "annotations": dict(rule.get("annotations", {}))})
    return alerts


def _site_url() -> str:
    text = (TEMPLATES / "folio.tmpl").read_text(encoding="utf-8")
    urls = [match["url"] for match in SITE_URL.finditer(text)]
    assert len(urls) == 1, f"folio.site_url must be defined once, on one line: {urls}"
    return urls[0]


def _matcher(text: str) -> tuple[str, str, str]:
    match = MATCHER.match(text)
    assert match, f"not a matcher: {text!r}"
    value = match[3] if match[3] is not None else match[4]
    return match[1], match[2], value.replace('\\"', '"').replace("\\\\", "\\")


def _matches(matchers: list[str], labels: dict[str, str]) -> bool:
    """Alertmanager's matching: a missing label is the empty string; regexes are anchored."""
    for name, op, value in map(_matcher, matchers):
        actual = labels.get(name, "")
        hit = re.fullmatch(value, actual) is not None if "~" in op else actual == value
        if hit == op.startswith("!"):
            return False
    return True


def _inhibits(source: dict[str, str], target: dict[str, str]) -> bool:
    """Whether a firing ``source`` mutes ``target`` under the config's inhibit_rules."""
    return any(
        _matches(rule.get("source_matchers", []), source)
        and _matches(rule.get("target_matchers", []), target)
        and all(source.get(name, "") == target.get(name, "") for name in rule.get("equal", []))
        for rule in _config()["inhibit_rules"]
    )


def _inhibit_alertnames() -> set[str]:
    """Every alertname an inhibit rule names, splitting `=~"A|B"` into A and B."""
    names: set[str] = set()
    for rule in _config()["inhibit_rules"]:
        for text in rule.get("source_matchers", []) + rule.get("target_matchers", []):
            name, op, value = _matcher(text)
            if name == "alertname":
                assert op in {"=", "=~"}, f"{text}: name the alerts, do not exclude them"
                assert re.fullmatch(r"\w+(\|\w+)*", value), f"{text}: a plain list of names"
                names.update(value.split("|"))
    return names


def _uncommented_examples() -> tuple[str, set[str]]:
    """The config with its commented receiver examples switched on, and which they were."""
    lines = CONFIG.read_text(encoding="utf-8").splitlines()
    found: set[str] = set()
    out: list[str] = []
    indent: str | None = None
    for line in lines:
        start = re.match(rf"^(\s*)# ({'|'.join(EXAMPLES)}):\s*$", line)
        if start:
            indent = start[1]
            found.add(start[2])
        elif indent is None or not line.startswith(f"{indent}#   "):
            indent = None
        out.append(line if indent is None else indent + line[len(indent) + 2 :])
    return "\n".join(out) + "\n", found


def test_config_uses_the_current_syntax() -> None:
    """Routes and inhibit rules use matchers, never the deprecated match/match_re forms."""
    config = _config()
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        assert not {"match", "match_re"} & set(route), route
    for rule in config["inhibit_rules"]:
        deprecated = {"source_match", "source_match_re", "target_match", "target_match_re"}
        assert not deprecated & set(rule), rule
        assert rule["source_matchers"], rule
        assert rule["target_matchers"], rule
    assert config["templates"] == ["templates/*.tmpl"]


def test_amtool_check_config() -> None:
    """`amtool check-config` accepts alertmanager.yml and loads its template glob."""
    output = _amtool("check-config", str(CONFIG.relative_to(ROOT)))
    assert "SUCCESS" in output, output
    assert " - 1 templates" in output, output
    assert " - 2 receivers" in output, output
    assert output.count("SUCCESS") == 2, f"the templates did not load:\n{output}"


def test_grouping_and_timings() -> None:
    """Alerts group by alertname and job; pages repeat every 4h, tickets every 24h."""
    route = _config()["route"]
    assert route["receiver"] == DEFAULT_RECEIVER
    assert route["group_by"] == ["alertname", "job"]
    assert (route["group_wait"], route["group_interval"]) == ("30s", "5m")
    repeat = {
        child["receiver"]: child.get("repeat_interval", route["repeat_interval"])
        for child in route["routes"]
    }
    assert repeat == {"folio-page": "4h", "folio-ticket": "24h"}


def test_receivers_are_webhooks_that_send_resolved() -> None:
    """Both receivers exist and, as shipped, post to a webhook with send_resolved: true."""
    receivers = {receiver["name"]: receiver for receiver in _config()["receivers"]}
    assert set(receivers) == set(RECEIVERS.values())
    for name, receiver in receivers.items():
        assert set(receiver) == {"name", "webhook_configs"}, name
        for webhook in receiver["webhook_configs"]:
            assert webhook["send_resolved"] is True, name
            assert webhook["url"].startswith("http"), name


@pytest.mark.parametrize("name", sorted(_alerts()))
def test_every_alert_routes_to_its_severity_receiver(name: str) -> None:
    """`amtool config routes test` sends each alert to folio-page or folio-ticket by severity."""
    labels = _alerts()[name].get("labels", {})
    expected = RECEIVERS[labels["severity"]]
    static = [f"{key}={value}" for key, value in labels.items()]
    for job in JOBS:
        output = _amtool(
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            f"--verify.receivers={expected}",
            f"alertname={name}",
            f"job={job}",
            *static,
        )
        assert output.strip() == expected, f"{name} {job}: {output}"


@pytest.mark.parametrize("severity", [None, "", "critical"])
def test_alert_without_a_known_severity_goes_to_the_default(severity: str | None) -> None:
    """An alert without severity, or with one the tree does not know, still reaches folio-ticket."""
    labels = ["alertname=SomethingNew", "job=folio-api"]
    if severity is not None:
        labels.append(f"severity={severity}")
    output = _amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert output.strip() == DEFAULT_RECEIVER, output


def test_inhibit_rules_name_only_existing_alerts() -> None:
    """Every alertname in an inhibit rule is an alert in alerts.yml, so a rename fails here."""
    names = _inhibit_alertnames()
    assert {"FolioTargetDown", "FolioWebApiCallErrors", "FolioHigh5xxRatio"} <= names
    missing = names - set(_alerts())
    assert not missing, f"inhibit rules name alerts that do not exist: {sorted(missing)}"


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_inhibit_rules_mute_the_symptoms_and_nothing_else(source: str) -> None:
    """In the config, a target down mutes exactly the expected alerts (model of Alertmanager)."""
    labels = _labelled(SOURCES[source])
    muted = {key for key, target in TARGETS.items() if _inhibits(labels, _labelled(target))}
    assert muted == INHIBITED[source]
    assert not _inhibits(labels, labels), "an alert must not mute itself"


def test_folio_api_down_mutes_folio_web_api_alerts() -> None:
    """FolioTargetDown{job=folio-api} mutes FolioWebApiCallErrors and folio-web's 5xx alert."""
    api_down = _labelled(API_DOWN)
    assert _inhibits(api_down, _labelled(TARGETS["api-calls"]))
    assert _inhibits(api_down, _labelled(TARGETS["web-5xx"]))
    assert not _inhibits(_labelled(WEB_DOWN), _labelled(TARGETS["api-calls"]))


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager with deploy/alertmanager/alertmanager.yml; yields its URL."""
    binary = _tool("prometheus-alertmanager", "alertmanager")
    port = free_port()
    log = tmp_path / "alertmanager.log"
    command = [
        binary,
        f"--config.file={CONFIG}",
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, f"alertmanager exited:\n{log.read_text()}"
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"alertmanager not ready:\n{log.read_text()}"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _post(url: str, *alerts: dict[str, Any]) -> None:
    response = httpx.post(f"{url}/api/v2/alerts", json=list(alerts), timeout=5)
    assert response.status_code == 200, response.text


def _muted(url: str) -> dict[str, bool]:
    """Each known alert's key, and whether Alertmanager reports it as inhibited."""
    known = {**TARGETS, **SOURCES}
    by_labels = {json.dumps(_labelled(t), sort_keys=True): key for key, t in known.items()}
    state: dict[str, bool] = {}
    for alert in httpx.get(f"{url}/api/v2/alerts", timeout=5).json():
        key = by_labels.get(json.dumps(alert["labels"], sort_keys=True))
        if key:
            state[key] = bool(alert["status"]["inhibitedBy"])
    return state


def _until(url: str, expected: dict[str, bool], timeout: float = 5) -> dict[str, bool]:
    """Poll Alertmanager until it reports ``expected`` (or time is up); return what it says."""
    deadline = time.monotonic() + timeout
    while (state := _muted(url)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return state


def test_real_alertmanager_inhibits(alertmanager: str) -> None:
    """A running Alertmanager mutes exactly the expected alerts, and never a target-down page."""
    url = alertmanager
    targets = {key: target for key, target in TARGETS.items() if key not in SOURCES}
    _post(url, *({"labels": _labelled(target)} for target in targets.values()))
    for source, labels in SOURCES.items():
        _post(url, {"labels": _labelled(labels)})
        expected = {key: key in INHIBITED[source] for key in targets} | {source: False}
        state = _until(url, expected)
        assert state == expected, f"{source} alone"
        # Resolve it, so that the next source is seen alone.
        past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        _post(url, {"labels": _labelled(labels), "startsAt": past, "endsAt": past})
        assert _until(url, dict.fromkeys(targets, False)) == dict.fromkeys(targets, False)
    _post(url, *({"labels": _labelled(labels)} for labels in SOURCES.values()))
    muted = set().union(*INHIBITED.values()) - set(SOURCES)
    expected = {key: key in muted for key in targets} | dict.fromkeys(SOURCES, False)
    assert _until(url, expected) == expected, "both targets down"


def test_site_url_is_defined_once() -> None:
    """folio.site_url is one absolute URL, the only place the templates spell it."""
    url = _site_url()
    assert re.fullmatch(r"https?://[^/\s]+(/[^\s]*)?", url), url
    assert not url.endswith("/"), url
    text = "".join(path.read_text(encoding="utf-8") for path in TEMPLATES.glob("*.tmpl"))
    assert text.count(url) == 1, f"{url} is spelled more than once in the templates"


def test_runbook_link_for_every_alert(tmp_path: Path) -> None:
    """folio.runbook_link turns each alert's runbook_url into <site>/runbook#<anchor>."""
    alerts = _rule_alerts()
    text = '{{ range .Alerts }}{{ template "folio.runbook_link" . }}\n{{ end }}'
    links = _render(text, alerts, tmp_path).splitlines()
    anchors = [alert["annotations"]["runbook_url"].split("#", 1)[1] for alert in alerts]
    assert links == [f"{_site_url()}/runbook#{anchor}" for anchor in anchors]


def test_runbook_link_without_a_repo_path(tmp_path: Path) -> None:
    """An absolute runbook_url is kept; without one the anchor is the alertname in lower case."""
    alerts = [
        {"labels": {"alertname": "A"}, "annotations": {"runbook_url": "https://x.example/r#a"}},
        {"labels": {"alertname": "FolioSomething"}, "annotations": {}},
    ]
    text = '{{ range .Alerts }}{{ template "folio.runbook_link" . }}\n{{ end }}'
    links = _render(text, alerts, tmp_path).splitlines()
    assert links == ["https://x.example/r#a", f"{_site_url()}/runbook#foliosomething"]


def test_site_url_can_be_overridden_by_a_later_template(tmp_path: Path) -> None:
    """A template file parsed after folio.tmpl that redefines folio.site_url changes every link."""
    override = tmp_path / "site.tmpl"
    override.write_text('{{ define "folio.site_url" }}https://folio.example{{ end }}\n')
    alert = _rule_alerts()[0]
    text = '{{ template "folio.group_runbook_link" . }}'
    link = _render(text, [alert], tmp_path, TEMPLATE_GLOB, str(override))
    anchor = alert["annotations"]["runbook_url"].split("#", 1)[1]
    assert link == f"https://folio.example/runbook#{anchor}"


def test_text_carries_summary_description_severity_and_runbook(tmp_path: Path) -> None:
    """folio.text shows, for every alert, its summary, description, severity and runbook link."""
    alerts = _rule_alerts()
    text = _render('{{ template "folio.text" . }}', alerts, tmp_path)
    blocks = text.split("\n\n")
    assert len(blocks) == len(alerts), text
    for alert, block in zip(alerts, blocks, strict=True):
        labels, annotations = alert["labels"], alert["annotations"]
        anchor = annotations["runbook_url"].split("#", 1)[1]
        assert block.startswith(f"[FIRING] {labels['severity']}: {annotations['summary']}\n")
        assert annotations["description"] in block, block
        assert f"Runbook: {_site_url()}/runbook#{anchor}\n" in block, block
        assert f"alertname={labels['alertname']}" in block, block


def test_title_names_status_severity_alert_and_job(tmp_path: Path) -> None:
    """folio.title is one line: status and count, severity, alertname and job."""
    alert = next(a for a in _rule_alerts() if a["labels"]["alertname"] == "FolioTargetDown")
    title = _render('{{ template "folio.title" . }}', [alert, alert], tmp_path)
    assert title == "[FIRING:2] page FolioTargetDown (folio-api)"


def test_commented_receiver_examples_are_valid(tmp_path: Path) -> None:
    """Uncommented, the Slack, email and PagerDuty examples pass `amtool check-config`."""
    text, found = _uncommented_examples()
    assert found == set(EXAMPLES)
    shutil.copytree(TEMPLATES, tmp_path / "templates")
    (tmp_path / "alertmanager.yml").write_text(text, encoding="utf-8")
    output = _amtool("check-config", "alertmanager.yml", cwd=tmp_path)
    assert output.count("SUCCESS") == 2, output
    receivers = {r["name"]: r for r in yaml.safe_load(text)["receivers"]}
    files = {
        "pagerduty_configs": "routing_key_file",
        "slack_configs": "api_url_file",
        "email_configs": "auth_password_file",
    }
    for kind, key in files.items():
        configs = [c for r in receivers.values() for c in r.get(kind, [])]
        assert configs, f"no {kind} example"
        assert all(c[key].startswith("/") for c in configs), f"{kind}: {key}"
        assert all(c["send_resolved"] is True for c in configs), kind
    pagerduty = receivers["folio-page"]["pagerduty_configs"][0]
    assert "folio.group_runbook_link" in pagerduty["links"][0]["href"]


def test_examples_use_only_defined_templates() -> None:
    """Every template the config names is defined in templates/, and no secret is inline."""
    text = CONFIG.read_text(encoding="utf-8")
    used = set(re.findall(r'template "([\w.]+)"', text))
    assert {"folio.title", "folio.text", "folio.group_runbook_link"} <= used
    templates = "".join(path.read_text(encoding="utf-8") for path in TEMPLATES.glob("*.tmpl"))
    defined = set(re.findall(r'{{-? define "([\w.]+)"', templates))
    assert not used - defined, f"undefined templates: {sorted(used - defined)}"
    inline = r"\b(api_url|auth_password|auth_secret|routing_key|service_key|api_key|token):"
    assert not re.findall(inline, text), "secrets belong in *_file settings"


def test_doc_names_only_real_alerts_and_every_inhibition() -> None:
    """docs/alerting.md names only alerts that exist, and every alert of the inhibit rules."""
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"\bFolio[A-Z]\w*", text))
    unknown = named - set(_alerts())
    assert not unknown, f"docs/alerting.md names alerts that do not exist: {sorted(unknown)}"
    undocumented = _inhibit_alertnames() - named
    assert not undocumented, f"inhibited alerts missing from the doc: {sorted(undocumented)}"


def test_doc_names_the_receivers_templates_and_checks() -> None:
    """docs/alerting.md names both receivers, the template defines and the amtool checks."""
    text = DOC.read_text(encoding="utf-8")
    templates = (TEMPLATES / "folio.tmpl").read_text(encoding="utf-8")
    defines = set(re.findall(r'{{-? define "([\w.]+)"', templates))
    for word in [*RECEIVERS.values(), *defines, "amtool check-config", "config routes test"]:
        assert word in text, f"docs/alerting.md does not mention {word}"
    assert _site_url() in text
