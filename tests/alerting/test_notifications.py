"""Real faults reach a person: firing, then resolved, notifications at a webhook receiver.

folio-api (on a private PostgreSQL), folio-web, Prometheus with deploy/prometheus's rules,
Alertmanager with deploy/alertmanager's routes and inhibitions, and a webhook receiver in
this process. For the test only, every `for:` is 10 s, FolioTargetDown looks back 3 s
instead of a minute, and Alertmanager groups within seconds. The order of the real timings
is kept: a target is down before the alerts it inhibits can fire.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from folio.stack.prometheus import Targets
from tests.alerting.stack import Alertmanager, Prometheus, Receiver, prometheus_rules, wait_for
from tests.ports import free_ports
from tests.processes import Service, start, stop, wait_until
from tests.reliability.postgres import PrivatePostgres

# From the fault to the notification at the receiver, and from the repair to the resolved
# one: a few evaluations, the shortened `for:`, and Alertmanager's group_wait/interval.
FIRING_WITHIN = 60.0
RESOLVED_WITHIN = 60.0
PENDING_FOR = "10s"
TARGET_DOWN_WINDOW = "3s"
# Alerts that FolioTargetDown{job="folio-api"} inhibits (deploy/alertmanager/alertmanager.yml).
INHIBITED_BY_API_DOWN = {("FolioWebApiCallErrors", None), ("FolioHigh5xxRatio", "folio-web")}


@dataclass
class AlertingStack:
    directory: Path
    postgres: PrivatePostgres
    api: Service
    api_settings: dict[str, str]
    web: Service
    receiver: Receiver
    alertmanager: Alertmanager
    prometheus: Prometheus
    started: list[Service]

    def restart_api(self) -> None:
        port = int(self.api.url.rsplit(":", 1)[1])
        self.api = start("api", port, self.api_settings, self.directory / "api.log")
        self.started.append(self.api)
        wait_until(self.api, "/api/health")

    def delivered(self, receiver: str, status: str, alertname: str, job: str) -> dict[str, Any]:
        """The first alert of this name and job delivered to ``receiver`` with ``status``."""
        for alert in self.receiver.alerts(receiver, status):
            labels = alert["labels"]
            if labels["alertname"] == alertname and labels.get("job") == job:
                return alert
        return {}

    def firing_in_prometheus(self) -> set[tuple[str, str | None]]:
        response = httpx.get(f"{self.prometheus.url}/api/v1/alerts", timeout=5)
        return {
            (alert["labels"]["alertname"], alert["labels"].get("job"))
            for alert in response.json()["data"]["alerts"]
            if alert["state"] == "firing"
        }


def _fast_rules(directory: Path) -> Path:
    config = prometheus_rules(directory, pending_for=PENDING_FOR)
    alerts = config.parent / "rules" / "alerts.yml"
    text, count = re.subn(
        r'max_over_time\(up\{job=~"folio-api\|folio-web"\}\[1m\]\)',
        f'max_over_time(up{{job=~"folio-api|folio-web"}}[{TARGET_DOWN_WINDOW}])',
        alerts.read_text(),
    )
    assert count == 1, "FolioTargetDown's expression changed; update this test"
    alerts.write_text(text)
    return config


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingStack]:
    directory = tmp_path_factory.mktemp("alerting")
    api_port, web_port, prometheus_port, alertmanager_port = free_ports(4)
    with ExitStack() as cleanup:
        postgres = PrivatePostgres()
        cleanup.callback(postgres.remove)
        receiver = Receiver.start()
        cleanup.callback(receiver.stop)
        postgres.start()
        postgres.wait_until_accepting()
        started: list[Service] = []  # every folio process, restarts included
        cleanup.callback(lambda: [stop(service) for service in reversed(started)])
        api_settings = {"FOLIO_DATABASE_URL": postgres.url, "FOLIO_DRAIN_SECONDS": "0"}
        started.append(start("api", api_port, api_settings, directory / "api.log"))
        web_settings = {"FOLIO_API_URL": started[0].url, "FOLIO_DRAIN_SECONDS": "0"}
        started.append(start("web", web_port, web_settings, directory / "web.log"))
        api, web = started
        wait_until(api, "/api/health")
        wait_until(web, "/api/health")
        alertmanager = Alertmanager(
            directory / "alertmanager", alertmanager_port, receiver, web.url
        )
        cleanup.callback(alertmanager.stop)
        alertmanager.start()
        targets = Targets(
            f"127.0.0.1:{api_port}", f"127.0.0.1:{web_port}", f"127.0.0.1:{prometheus_port}"
        )
        prometheus = Prometheus(
            directory / "prometheus",
            prometheus_port,
            targets,
            alertmanager=alertmanager.address,
            source=_fast_rules(directory),
        )
        cleanup.callback(prometheus.stop)
        prometheus.start()
        wait_for(
            lambda: prometheus.targets_up() == {"folio-api", "folio-web", "prometheus"},
            60,
            "every target up",
        )
        yield AlertingStack(
            directory, postgres, api, api_settings, web, receiver, alertmanager, prometheus, started
        )


def test_prometheus_sends_to_the_alertmanager(stack: AlertingStack) -> None:
    """Prometheus lists the Alertmanager as active, and nothing has been delivered yet."""
    response = httpx.get(f"{stack.prometheus.url}/api/v1/alertmanagers", timeout=5)
    active = [entry["url"] for entry in response.json()["data"]["activeAlertmanagers"]]
    assert active == [f"http://{stack.alertmanager.address}/api/v2/alerts"]
    assert stack.receiver.notifications == []


def test_folio_api_down_pages_then_resolves(stack: AlertingStack) -> None:
    """Stopping folio-api pages FolioTargetDown within the bound, folio-web's knock-on alerts
    are inhibited, and starting it again sends the resolved notification."""
    stopped_at = time.monotonic()
    stop(stack.api)
    # Pages of folio-web now answer 503, and its calls to folio-api fail.
    fired = wait_for(
        lambda: (
            _browse(stack.web.url, 5)
            and stack.delivered("folio-page", "firing", "FolioTargetDown", "folio-api")
        ),
        FIRING_WITHIN,
        "a firing FolioTargetDown notification",
        every=1,
    )
    assert time.monotonic() - stopped_at < FIRING_WITHIN
    _assert_carries(stack, fired, "FolioTargetDown", "page", "folio-api target")
    # folio-web's own alerts fire in Prometheus, and Alertmanager holds them back.
    wait_for(
        lambda: _browse(stack.web.url, 5) and stack.firing_in_prometheus() >= INHIBITED_BY_API_DOWN,
        FIRING_WITHIN,
        "folio-web's alerts to fire in Prometheus",
        every=1,
    )
    wait_for(
        lambda: _suppressed(stack) >= INHIBITED_BY_API_DOWN,
        FIRING_WITHIN,
        "Alertmanager to inhibit folio-web's alerts",
    )
    delivered = {
        (alert["labels"]["alertname"], alert["labels"].get("job"))
        for alert in stack.receiver.alerts("folio-page", "firing")
        + stack.receiver.alerts("folio-ticket", "firing")
    }
    assert not delivered & INHIBITED_BY_API_DOWN, delivered

    restored_at = time.monotonic()
    stack.restart_api()
    resolved = wait_for(
        lambda: stack.delivered("folio-page", "resolved", "FolioTargetDown", "folio-api"),
        RESOLVED_WITHIN,
        "a resolved FolioTargetDown notification",
    )
    assert time.monotonic() - restored_at < RESOLVED_WITHIN
    _assert_carries(stack, resolved, "FolioTargetDown", "page", "folio-api target")


def test_database_away_pages_then_resolves(stack: AlertingStack) -> None:
    """PostgreSQL stopped under reads: folio-api answers 503, FolioHigh5xxRatio pages; with
    the database back and the error share diluted, the resolved notification follows."""
    wait_until(stack.api, "/api/health/ready")
    stopped_at = time.monotonic()
    stack.postgres.stop()
    fired = wait_for(
        lambda: (
            _read_projects(stack.api.url, 3)
            and stack.delivered("folio-page", "firing", "FolioHigh5xxRatio", "folio-api")
        ),
        FIRING_WITHIN,
        "a firing FolioHigh5xxRatio notification for folio-api",
        every=1,
    )
    assert time.monotonic() - stopped_at < FIRING_WITHIN
    _assert_carries(stack, fired, "FolioHigh5xxRatio", "page", "folio-api answers")

    stack.postgres.start()
    stack.postgres.wait_until_accepting()
    wait_until(stack.api, "/api/health/ready")
    restored_at = time.monotonic()
    # The ratio is over 5 minutes: good requests bring the 5xx share back under 5%.
    resolved = wait_for(
        lambda: (
            _healthy_requests(stack.api.url, 400)
            and stack.delivered("folio-page", "resolved", "FolioHigh5xxRatio", "folio-api")
        ),
        RESOLVED_WITHIN,
        "a resolved FolioHigh5xxRatio notification for folio-api",
        every=1,
    )
    assert time.monotonic() - restored_at < RESOLVED_WITHIN
    _assert_carries(stack, resolved, "FolioHigh5xxRatio", "page", "folio-api answers")


def _assert_carries(
    stack: AlertingStack, alert: dict[str, Any], alertname: str, severity: str, summary: str
) -> None:
    """The notification names the alert, its severity, a summary, and a runbook section
    that folio-web serves."""
    assert alert["labels"]["alertname"] == alertname
    assert alert["labels"]["severity"] == severity
    assert alert["annotations"]["summary"].startswith(summary), alert["annotations"]
    runbook = alert["annotations"]["runbook_url"]
    assert runbook == f"docs/runbook.md#{alertname.lower()}"
    page = httpx.get(f"{stack.web.url}/runbook", timeout=5)
    assert page.status_code == 200
    assert f'id="{alertname.lower()}"' in page.text


def _suppressed(stack: AlertingStack) -> set[tuple[str, str | None]]:
    return {
        (alert["labels"]["alertname"], alert["labels"].get("job"))
        for alert in stack.alertmanager.alerts()
        if alert["status"]["state"] == "suppressed" and alert["status"]["inhibitedBy"]
    }


def _browse(web: str, pages: int) -> bool:
    """A few page views; True, so that it can lead a wait_for condition."""
    with httpx.Client(timeout=10) as client:
        for _ in range(pages):
            client.get(f"{web}/projects")
    return True


def _read_projects(api: str, reads: int) -> bool:
    with httpx.Client(timeout=10) as client:
        for _ in range(reads):
            client.get(f"{api}/api/projects")
    return True


def _healthy_requests(api: str, count: int) -> bool:
    async def send() -> None:
        gate = asyncio.Semaphore(8)
        async with httpx.AsyncClient(timeout=10) as client:

            async def one() -> None:
                async with gate:
                    response = await client.get(f"{api}/api/projects")
                assert response.status_code == 200

            await asyncio.gather(*(one() for _ in range(count)))

    asyncio.run(send())
    return True
