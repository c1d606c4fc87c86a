"""Harmless traffic on a real stack leaves every alert inactive: not firing, and not pending.

folio-api and folio-web run as processes, two workers each, recycled every few dozen
requests; Prometheus scrapes them every second and evaluates deploy/prometheus's rules,
unchanged, every second. After each scenario the test asks Prometheus whether any ALERTS
sample, pending or firing, was written since the scenario began. The tests run in order
on one stack, and each scenario counts what it did in Prometheus, so that a scenario
Prometheus never saw cannot pass.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from folio.stack.prometheus import Targets
from tests.alerting.stack import Prometheus, wait_for
from tests.factories import project_payload
from tests.ports import free_ports
from tests.processes import Service, start, stop, wait_until

TOKEN = "harmless-token"
MAX_REQUESTS = "200"  # per worker: a worker is replaced every few hundred requests
SLOW_CLIENTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
TRICKLE = (4, 0.25)  # bytes, seconds: a 60-byte body takes about 4 s
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)
SPRAY_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND", "BREW")


@dataclass
class HarmlessStack:
    directory: Path
    api: Service
    web: Service
    api_args: tuple[str, ...]
    api_settings: dict[str, str]
    prometheus: Prometheus

    def restart_api(self) -> None:
        stop(self.api)
        port = int(self.api.url.rsplit(":", 1)[1])
        log = self.directory / "api.log"
        self.api = start("api", port, self.api_settings, log, *self.api_args)
        wait_until(self.api, "/api/health")

    def settle(self) -> None:
        """Let every rule be evaluated a few more times after the traffic."""
        evaluated = self.prometheus.evaluations()
        wait_for(
            lambda: self.prometheus.evaluations() >= evaluated + 3 * _alert_groups(self),
            30,
            "three more evaluations of the alerting rules",
        )

    def active_alerts_since(self, began: float) -> list[str]:
        """Every alert that was pending or firing at any evaluation since ``began``."""
        window = math.ceil(time.time() - began) + 2
        return sorted(
            f"{series['metric']['alertname']} {series['metric']}"
            for series in self.prometheus.query(f"last_over_time(ALERTS[{window}s])")
        )

    def seen(self, promql: str) -> float:
        """A value Prometheus has scraped, waiting until it has one."""
        result = wait_for(lambda: self.prometheus.query(promql), 20, f"a value for {promql}")
        return float(result[0]["value"][1])


async def _send(client: httpx.AsyncClient, method: str, url: str, **options: Any) -> httpx.Response:
    """One request, sent again if its connection is cut before any answer.

    A worker that reaches --max-requests closes the connections it has accepted but not
    yet read a request from, so a request can be lost as a worker is replaced. Browsers
    retry such a request; this client does too, since the alerts are the subject here.
    """
    for attempt in range(3):
        try:
            return await client.request(method, url, **options)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _alert_groups(stack: HarmlessStack) -> int:
    rules = httpx.get(f"{stack.prometheus.url}/api/v1/rules", params={"type": "alert"}, timeout=5)
    return len(rules.json()["data"]["groups"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HarmlessStack]:
    directory = tmp_path_factory.mktemp("harmless")
    api_port, web_port, prometheus_port = free_ports(3)
    workers = ("--workers", "2", "--max-requests", MAX_REQUESTS)
    api_settings = {
        "FOLIO_DATABASE_URL": f"sqlite:///{directory}/folio.db",
        "FOLIO_API_TOKEN": TOKEN,
        "FOLIO_DRAIN_SECONDS": "0",
    }
    api = start("api", api_port, api_settings, directory / "api.log", *workers)
    web_settings = {"FOLIO_API_URL": api.url, "FOLIO_DRAIN_SECONDS": "0"}
    web = start("web", web_port, web_settings, directory / "web.log", *workers)
    targets = Targets(
        f"127.0.0.1:{api_port}", f"127.0.0.1:{web_port}", f"127.0.0.1:{prometheus_port}"
    )
    prometheus = Prometheus(directory / "prometheus", prometheus_port, targets)
    running = HarmlessStack(directory, api, web, workers, api_settings, prometheus)
    try:
        wait_until(api, "/api/health")
        wait_until(web, "/api/health")
        prometheus.start()
        wait_for(
            lambda: prometheus.targets_up() == {"folio-api", "folio-web", "prometheus"},
            60,
            "every target up",
        )
        running.settle()
        yield running
    finally:
        prometheus.stop()
        stop(running.web)
        stop(running.api)


def test_the_rules_are_loaded_and_evaluated_without_failures(stack: HarmlessStack) -> None:
    """Every alert of deploy/prometheus is evaluated, healthy, and inactive on an idle stack."""
    began = time.time() - 60
    response = httpx.get(f"{stack.prometheus.url}/api/v1/rules", params={"type": "alert"})
    rules = [rule for group in response.json()["data"]["groups"] for rule in group["rules"]]
    assert len(rules) >= 10
    assert {rule["health"] for rule in rules} == {"ok"}
    assert stack.prometheus.value("sum(prometheus_rule_evaluation_failures_total)") == 0
    assert stack.active_alerts_since(began) == []


def test_a_409_storm_is_not_a_database_alert(stack: HarmlessStack) -> None:
    """Duplicate slugs and renames onto taken slugs, answered 409, leave every alert inactive."""
    began = time.time()
    asyncio.run(_conflicts(stack.api.url, creates=150, renames=50))
    stack.settle()
    assert stack.seen('sum(db_constraint_violations_total{job="folio-api"})') >= 200
    assert stack.seen('sum(http_requests_total{job="folio-api",status="409"})') >= 200
    assert stack.active_alerts_since(began) == []


async def _conflicts(url: str, creates: int, renames: int) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        base_url=url, headers=auth, timeout=10, limits=NO_KEEPALIVE
    ) as client:
        for slug in ("storm", "storm-b"):
            created = await _send(client, "POST", "/api/projects", json=project_payload(slug))
            assert created.status_code in (201, 409)
        for _ in range(creates):
            duplicate = await _send(client, "POST", "/api/projects", json=project_payload("storm"))
            assert duplicate.status_code == 409
        for _ in range(renames):
            rename = await _send(client, "PATCH", "/api/projects/storm-b", json={"slug": "storm"})
            assert rename.status_code == 409


def test_slow_anonymous_uploads_are_not_latency(stack: HarmlessStack) -> None:
    """Beacons and unauthenticated writes trickled in from four addresses raise no alert."""
    began = time.time()
    statuses = asyncio.run(_slow_uploads(stack))
    assert statuses.count(204) == 2 * len(SLOW_CLIENTS), statuses
    stack.settle()
    rum = '{job="folio-web",endpoint="/api/rum",status="204"}'
    assert stack.seen(f"sum(http_requests_total{rum})") >= 2 * len(SLOW_CLIENTS)
    p95 = 'job_endpoint:http_request_duration_seconds:p95_5m{job="folio-web",endpoint="/api/rum"}'
    assert stack.seen(p95) < 0.5
    assert stack.active_alerts_since(began) == []


async def _slow_uploads(stack: HarmlessStack) -> list[int]:
    web_host, web_port = stack.web.url.removeprefix("http://").split(":")
    api_host, api_port = stack.api.url.removeprefix("http://").split(":")
    beacon = json.dumps({"page": "/", "vitals": [{"name": "LCP", "value": 1200}]}).encode()
    project = json.dumps(project_payload("never-written")).encode()

    async def one_client(address: str) -> list[int]:
        statuses = []
        for _ in range(2):
            statuses.append(
                await _trickle(
                    web_host,
                    int(web_port),
                    address,
                    "/api/rum",
                    beacon,
                    {"Content-Type": "text/plain", "Origin": stack.web.url},
                )
            )
        statuses.append(
            await _trickle(api_host, int(api_port), address, "/api/projects", project[:60], {})
        )
        return statuses

    results = await asyncio.gather(*(one_client(address) for address in SLOW_CLIENTS))
    return [status for statuses in results for status in statuses]


async def _trickle(
    host: str, port: int, source: str, path: str, body: bytes, headers: dict[str, str]
) -> int:
    """POST ``body`` a few bytes at a time from ``source``; the status, or 0 if cut off."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head += ["Content-Type: application/json"] if "Content-Type" not in headers else []
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    step, pause = TRICKLE
    try:
        for offset in range(0, len(body), step):
            writer.write(body[offset : offset + step])
            await writer.drain()
            await asyncio.sleep(pause)
        status_line = await asyncio.wait_for(reader.readline(), 10)
    except (ConnectionError, TimeoutError):
        return 0
    finally:
        writer.close()
    return int(status_line.split()[1]) if status_line else 0


def test_a_spray_of_random_methods_and_paths_raises_nothing(stack: HarmlessStack) -> None:
    """Hundreds of requests with odd methods and made-up paths, at both services."""
    began = time.time()
    statuses = asyncio.run(_spray([stack.api.url, stack.web.url], requests=600))
    assert max(statuses) < 500, sorted(set(statuses))
    stack.settle()
    unmatched = 'sum(http_requests_total{job=~"folio-.*",endpoint="<unmatched>"})'
    assert stack.seen(unmatched) >= 300
    assert stack.active_alerts_since(began) == []


async def _spray(urls: list[str], requests: int) -> list[int]:
    rng = random.Random(15)  # noqa: S311 - repeatable test data
    statuses: list[int] = []
    gate = asyncio.Semaphore(8)

    async def one(client: httpx.AsyncClient) -> None:
        words = ["api", "projects", "static", "x", "..", "%2e", "admin", "wp-login.php", "ü"]
        path = "/" + "/".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        async with gate:
            response = await _send(client, rng.choice(SPRAY_METHODS), rng.choice(urls) + path)
        statuses.append(response.status_code)

    async with httpx.AsyncClient(timeout=10, limits=NO_KEEPALIVE) as client:
        await asyncio.gather(*(one(client) for _ in range(requests)))
    return statuses


def test_a_prometheus_restart_raises_nothing(stack: HarmlessStack) -> None:
    """Prometheus stopped for a few seconds and started on the same data: no alert wakes."""
    began = time.time()
    stack.prometheus.stop()
    time.sleep(5)
    stack.prometheus.start()
    wait_for(
        lambda: stack.prometheus.targets_up() == {"folio-api", "folio-web", "prometheus"},
        30,
        "every target up again",
    )
    asyncio.run(_reads(stack, 60))
    stack.settle()
    assert stack.active_alerts_since(began) == []


def test_a_folio_api_restart_raises_nothing(stack: HarmlessStack) -> None:
    """folio-api stopped and started again: its counters go back to 0, and no alert wakes."""
    began = time.time()
    asyncio.run(_reads(stack, 30))
    time.sleep(2)  # scraped before the restart, so that Prometheus sees the counters drop
    stack.restart_api()
    asyncio.run(_reads(stack, 60))
    stack.settle()
    window = math.ceil(time.time() - began)
    resets = f'sum(resets(http_requests_total{{job="folio-api"}}[{window}s]))'
    assert stack.seen(resets) >= 1
    assert stack.active_alerts_since(began) == []


def test_worker_recycling_raises_nothing(stack: HarmlessStack) -> None:
    """Workers replaced every few dozen requests, under steady reads, wake no alert."""
    began = time.time()
    asyncio.run(_reads(stack, 600))
    stack.settle()
    window = math.ceil(time.time() - began)
    started = f'last_over_time(process_start_time_seconds{{job="folio-api"}}[{window}s])'
    workers = f"count(count by (worker) ({started}))"
    assert stack.seen(workers) > 2
    assert stack.active_alerts_since(began) == []


async def _reads(stack: HarmlessStack, requests: int) -> None:
    """Ordinary reads through both services, a few at a time."""
    gate = asyncio.Semaphore(4)
    paths = [stack.api.url + "/api/projects", stack.web.url + "/", stack.web.url + "/projects"]

    async def one(client: httpx.AsyncClient, index: int) -> None:
        async with gate:
            response = await _send(client, "GET", paths[index % len(paths)])
        assert response.status_code == 200, response.text

    async with httpx.AsyncClient(timeout=10, limits=NO_KEEPALIVE) as client:
        await asyncio.gather(*(one(client, index) for index in range(requests)))
