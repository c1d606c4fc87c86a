"""deploy/prometheus/scale-out.yml end to end: two folio-api instances, file_sd, remote_write.

Two real `folio api` processes (each with its own SQLite file) are listed in a file_sd
targets file and scraped every second by a real Prometheus, started with a copy of
scale-out.yml that changes only the intervals, the targets files, the remote_write address
(not its path) and the rule_files' directory. Prometheus remote_writes into a real
VictoriaMetrics single node (Debian's victoria-metrics, the stand-in for a scalable store),
where the series of both instances must arrive with exact counts and their file_sd and
external labels. A third instance, added to the targets file later, must follow.

Needs `prometheus`, `promtool` and `victoria-metrics` on PATH (Debian's prometheus and
victoria-metrics packages): without them the tests skip, or fail under CI=true.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.ci import unavailable
from tests.metrics.promtool import promtool
from tests.ports import free_ports
from tests.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus"
CONFIG = DEPLOY / "scale-out.yml"
SINGLE = DEPLOY / "prometheus.yml"
FOLIO_JOBS = ("folio-api", "folio-web")
ENDPOINT = "/api/projects"
# GETs of ENDPOINT sent to the first and the second instance: different, so that a swap or
# a sum over both shows.
SENT = (7, 11)
# The third instance's labels when it is added to the targets file.
SPARE_LABELS = {"availability_zone": "local-c"}
TIMEOUT = 60

T = TypeVar("T")


def _require(binary: str, package: str) -> str:
    reason = f"{binary} not found: install Debian's {package} package (.ci/run does)"
    return shutil.which(binary) or unavailable(reason)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config["scrape_configs"]}


# ---------------------------------------------------------------------------------------
# The committed file, without running anything
# ---------------------------------------------------------------------------------------


def test_promtool_check_config() -> None:
    """`promtool check config` accepts scale-out.yml, its rule files and its file_sd files."""
    command = [promtool(), "check", "config", str(CONFIG.relative_to(ROOT))]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # A missing file_sd file is only a warning to promtool.
    assert "WARNING" not in output, output


def test_folio_jobs_match_prometheus_yml() -> None:
    """The folio jobs have prometheus.yml's path, limits and rule files; only targets differ."""
    scale_out, single = _load(CONFIG), _load(SINGLE)
    assert scale_out["rule_files"] == single["rule_files"]
    for name in FOLIO_JOBS:
        ours = {k: v for k, v in _jobs(scale_out)[name].items() if k != "file_sd_configs"}
        theirs = {k: v for k, v in _jobs(single)[name].items() if k != "static_configs"}
        assert ours == theirs, name
        (sd,) = _jobs(scale_out)[name]["file_sd_configs"]
        assert sd["files"] == [f"targets/{name}.json"], name


# ---------------------------------------------------------------------------------------
# The running stack
# ---------------------------------------------------------------------------------------


@dataclass
class ScaleOut:
    prometheus: str
    victoria: str
    # The two instances in the targets file (host:port), and the file_sd labels of each.
    instances: list[str]
    labels: dict[str, dict[str, str]]
    # A third running instance that is not in the targets file at first.
    spare: str
    targets_file: Path
    external_labels: dict[str, str]
    # A moment (Unix seconds) by which Prometheus held a scrape of both instances taken
    # after the last request: queries are pinned to it, so that what a test adds to the
    # targets file changes no other test.
    at: float
    # Seconds from the last request until VictoriaMetrics held such a scrape too (queried at
    # `at`), or None if it never did within TIMEOUT.
    arrived: float | None
    directory: Path

    def require_arrival(self) -> None:
        if self.arrived is None:
            pytest.fail(
                f"no scrape taken after the traffic reached VictoriaMetrics within {TIMEOUT} s "
                f"(logs: {self.directory})",
                pytrace=False,
            )


def _query(base: str, promql: str, at: float | None = None) -> list[dict[str, Any]]:
    """An instant query against Prometheus's or VictoriaMetrics's /api/v1/query."""
    params = {"query": promql, **({"time": f"{at:.3f}"} if at is not None else {})}
    response = httpx.get(f"{base}/api/v1/query", params=params, timeout=10)
    assert response.status_code == 200, (base, promql, response.text)
    body = response.json()
    assert body["status"] == "success", (base, promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


_polls = itertools.count()


def _uncached(matchers: str) -> str:
    """``matchers`` plus one that matches every series and differs on each call.

    For polls: VictoriaMetrics 1.79 caches the index lookup of a selector, a miss included,
    for several seconds, so a poll made just before a new series became searchable (about
    1 s after it arrived) would go on missing it for 5 to 10 s more.
    """
    return f'{matchers}, poll!="{next(_polls)}"'


def _by_instance(result: list[dict[str, Any]]) -> dict[str, float]:
    values = {series["metric"]["instance"]: float(series["value"][1]) for series in result}
    assert len(values) == len(result), f"an instance has several series: {result}"
    return values


def _poll(condition: Callable[[], T | None], timeout: float = TIMEOUT) -> T | None:
    """Call ``condition`` until it returns something truthy, and return that (or None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = condition()
        except httpx.TransportError:
            found = None
        if found:
            return found
        time.sleep(0.2)
    return None


def _wait(condition: Callable[[], T | None], what: str, timeout: float = TIMEOUT) -> T:
    """Like _poll, but fail the test on timeout."""
    found = _poll(condition, timeout)
    if not found:
        pytest.fail(f"timed out after {timeout} s waiting for {what}")
    return found


def _scraped_after(base: str, instances: list[str], after: float, at: float) -> bool:
    """Whether, seen at ``at``, the last scrape of every instance started after ``after``
    and succeeded: a scrape that timed out on a busy machine leaves its series stale."""
    up = _uncached('__name__="up", job="folio-api"')
    stamps = _by_instance(_query(base, f"timestamp({{{up}}})", at))
    succeeded = _by_instance(_query(base, f"{{{up}}}", at))
    fresh = set(stamps) == set(instances) and min(stamps.values()) > after
    return fresh and set(succeeded.values()) == {1.0}


@contextmanager
def _process(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    """Run ``command`` with its output in ``log``; SIGTERM it at the end, then SIGKILL."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=log.parent
        )
        try:
            yield
        finally:
            stop_process(process, timeout=20)


def _write_json(path: Path, content: Any) -> None:
    """Replace ``path`` atomically, as file_sd files should be."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(content, indent=2))
    os.replace(temporary, path)


def _targets_for(instances: list[str]) -> list[dict[str, Any]]:
    """The committed targets/folio-api.json with its addresses replaced by ``instances``."""
    groups: list[dict[str, Any]] = json.loads((DEPLOY / "targets" / "folio-api.json").read_text())
    addresses = [address for group in groups for address in group["targets"]]
    assert len(addresses) == len(instances), f"targets/folio-api.json lists {addresses}"
    replace = dict(zip(addresses, instances, strict=True))
    return [{**group, "targets": [replace[a] for a in group["targets"]]} for group in groups]


def _write_config(directory: Path, prometheus: str, victoria: str) -> Path:
    """scale-out.yml with 1 s intervals, targets files in ``directory``, this VM's address."""
    config: dict[str, Any] = _load(CONFIG)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s", scrape_timeout="1s")
    config["rule_files"] = [str((CONFIG.parent / name).resolve()) for name in config["rule_files"]]
    jobs = _jobs(config)
    for name in FOLIO_JOBS:
        (sd,) = jobs[name]["file_sd_configs"]
        sd["files"] = [str(directory / file) for file in sd["files"]]
    jobs["prometheus"]["static_configs"] = [{"targets": [prometheus]}]
    # Only the address changes: the path is the committed one, VictoriaMetrics's.
    (remote,) = config["remote_write"]
    remote["url"] = urlsplit(remote["url"])._replace(netloc=victoria).geturl()
    path = directory / "scale-out.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _api_ready(address: str) -> bool:
    return httpx.get(f"http://{address}/api/health", timeout=2).status_code == 200


def _healthy_jobs(prometheus: str) -> dict[str, str] | None:
    """instance -> health of Prometheus's active folio-api targets (None while starting)."""
    response = httpx.get(f"{prometheus}/api/v1/targets", timeout=5)
    if response.status_code != 200:
        return None
    targets = response.json()["data"]["activeTargets"]
    return {
        t["labels"]["instance"]: t["health"] for t in targets if t["labels"]["job"] == "folio-api"
    }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleOut]:
    """VictoriaMetrics, three folio-api processes, Prometheus over two of them, then traffic."""
    prometheus_binary = _require("prometheus", "prometheus")
    victoria_binary = _require("victoria-metrics", "victoria-metrics")
    directory = tmp_path_factory.mktemp("scale-out")
    (directory / "targets").mkdir()
    *api_ports, prometheus_port, victoria_port = free_ports(5)
    instances = [f"127.0.0.1:{port}" for port in api_ports]
    prometheus = f"127.0.0.1:{prometheus_port}"
    victoria = f"127.0.0.1:{victoria_port}"
    targets = _targets_for(instances[:2])
    targets_file = directory / "targets" / "folio-api.json"
    _write_json(targets_file, targets)
    _write_json(directory / "targets" / "folio-web.json", [])
    config_file = _write_config(directory, prometheus, victoria)
    started = time.time()
    with ExitStack() as stack:
        # -search.latencyOffset 0s: VictoriaMetrics otherwise hides the last 30 s from
        # queries. -dedup.minScrapeInterval as scale-out.yml advises for HA pairs.
        victoria_command = [
            victoria_binary,
            f"-storageDataPath={directory / 'victoria-metrics'}",
            f"-httpListenAddr={victoria}",
            "-retentionPeriod=1d",
            "-search.latencyOffset=0s",
            "-dedup.minScrapeInterval=1s",
        ]
        stack.enter_context(_process(victoria_command, directory / "victoria-metrics.log"))
        for index, port in enumerate(api_ports):
            env = {
                **os.environ,
                "FOLIO_DATABASE_URL": f"sqlite:///{directory}/{'abc'[index]}.db",
                "FOLIO_LOG_LEVEL": "warning",
            }
            command = [sys.executable, "-m", "folio", "api", "--port", str(port)]
            stack.enter_context(_process(command, directory / f"api-{port}.log", env))
        prometheus_command = [
            prometheus_binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={directory / 'prometheus'}",
            f"--web.listen-address={prometheus}",
        ]
        stack.enter_context(_process(prometheus_command, directory / "prometheus.log"))

        for address in instances:
            _wait(functools.partial(_api_ready, address), f"{address} (logs: {directory})")
        with httpx.Client(timeout=10) as client:
            for address, count in zip(instances[:2], SENT, strict=True):
                for _ in range(count):
                    response = client.get(f"http://{address}{ENDPOINT}")
                    assert response.status_code == 200, response.text
        finished = time.time()
        # A scrape that starts a second after the last answer has every request counted.
        sent_at = finished + 1.0

        def now_if_scraped() -> float | None:
            now = time.time()
            return now if _scraped_after(f"http://{prometheus}", listed, sent_at, now) else None

        listed = instances[:2]
        at = _wait(now_if_scraped, f"a scrape after the traffic (logs: {directory})")

        def delay_if_arrived() -> float | None:
            if _scraped_after(f"http://{victoria}", listed, sent_at, at):
                return time.time() - finished
            return None

        # Not a failure here: the tests that need VictoriaMetrics say so, the others run.
        arrived = _poll(delay_if_arrived)
        print(
            f"\nscale-out: stack up and traffic sent in {finished - started:.1f} s; then a "
            f"scrape after it in Prometheus {at - finished:.1f} s and in VictoriaMetrics "
            f"{arrived if arrived is None else round(arrived, 1)} s later"
        )
        yield ScaleOut(
            prometheus=f"http://{prometheus}",
            victoria=f"http://{victoria}",
            instances=listed,
            labels={a: group.get("labels", {}) for group in targets for a in group["targets"]},
            spare=instances[2],
            targets_file=targets_file,
            external_labels=_load(CONFIG)["global"]["external_labels"],
            at=at,
            arrived=arrived,
            directory=directory,
        )


def test_both_instances_are_up_in_victoriametrics(stack: ScaleOut) -> None:
    """VictoriaMetrics has up{job="folio-api"} == 1 for exactly the two file_sd instances."""
    stack.require_arrival()
    up = _by_instance(_query(stack.victoria, 'up{job="folio-api"}', stack.at))
    assert up == dict.fromkeys(stack.instances, 1.0)


def test_request_counts_per_instance_are_exact_in_victoriametrics(stack: ScaleOut) -> None:
    """Summed by instance, http_requests_total in VictoriaMetrics is what each one was sent."""
    stack.require_arrival()
    promql = f'sum by (instance) (http_requests_total{{job="folio-api", endpoint="{ENDPOINT}"}})'
    counts = _by_instance(_query(stack.victoria, promql, stack.at))
    assert counts == {address: float(n) for address, n in zip(stack.instances, SENT, strict=True)}


def test_series_carry_file_sd_and_external_labels(stack: ScaleOut) -> None:
    """Remote-written series have their target's file_sd labels, `cluster`, and no `replica`."""
    stack.require_arrival()
    series = _query(
        stack.victoria, '{job="folio-api", __name__=~"up|http_requests_total"}', stack.at
    )
    assert {s["metric"]["__name__"] for s in series} == {"up", "http_requests_total"}
    for found in series:
        labels = found["metric"]
        expected = stack.labels[labels["instance"]]
        assert expected, "the committed targets file gives each instance labels"
        assert {k: labels.get(k) for k in expected} == expected, labels
        assert labels.get("cluster") == stack.external_labels["cluster"], labels
        # scale-out.yml drops `replica` on the way to VictoriaMetrics, for deduplication.
        assert "replica" not in labels, labels


def test_prometheus_agrees_with_victoriametrics(stack: ScaleOut) -> None:
    """Prometheus's own TSDB has the counts sent, the file_sd labels and no external labels."""
    promql = f'sum by (instance) (http_requests_total{{job="folio-api", endpoint="{ENDPOINT}"}})'
    ours = _by_instance(_query(stack.prometheus, promql, stack.at))
    assert ours == {address: float(n) for address, n in zip(stack.instances, SENT, strict=True)}
    up = _query(stack.prometheus, 'up{job="folio-api"}', stack.at)
    assert {s["metric"]["instance"]: s["metric"].get("availability_zone") for s in up} == {
        address: labels.get("availability_zone") for address, labels in stack.labels.items()
    }
    # External labels are attached on the way out, never stored locally.
    assert not any("cluster" in s["metric"] for s in up), up
    stack.require_arrival()
    assert _by_instance(_query(stack.victoria, promql, stack.at)) == ours


def test_an_added_instance_is_scraped_without_a_restart(stack: ScaleOut) -> None:
    """A third target appended to the targets file is scraped and arrives in VictoriaMetrics."""
    groups = json.loads(stack.targets_file.read_text())
    _write_json(stack.targets_file, [*groups, {"targets": [stack.spare], "labels": SPARE_LABELS}])
    added = time.monotonic()
    _wait(
        lambda: (_healthy_jobs(stack.prometheus) or {}).get(stack.spare) == "up",
        f"Prometheus to scrape {stack.spare}",
        timeout=30,
    )
    stack.require_arrival()
    up = f'__name__="up", job="folio-api", instance="{stack.spare}"'
    found = _wait(
        lambda: _query(stack.victoria, f"{{{_uncached(up)}}}"),
        f"up of {stack.spare} in VictoriaMetrics",
        timeout=30,
    )
    print(f"\nscale-out: third instance in VictoriaMetrics {time.monotonic() - added:.1f} s after")
    (series,) = found
    assert series["value"][1] == "1"
    assert series["metric"]["availability_zone"] == SPARE_LABELS["availability_zone"]
    assert set(_healthy_jobs(stack.prometheus) or {}) == {*stack.instances, stack.spare}
