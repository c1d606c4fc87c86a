"""folio-web's /status against the stack's real Prometheus, and drawn in a real Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from folio.web.status_alerts import NO_ALERTS
from folio.web.status_queries import CHARTS, RANGES
from tests.integration.conftest import Stack
from tests.ports import free_ports

TOKEN = "status-page-token"
JOBS = {"folio-api", "folio-web"}
LEGENDS = {
    "request_rate": JOBS,
    "error_ratio": JOBS,
    "latency_p95": JOBS,
    "web_vitals": {"LCP", "INP", "FCP", "TTFB"},
}
ALL_DRAWN = """(count) => {
  const figures = [...document.querySelectorAll('figure[data-chart]')];
  const settled = figures.filter((f) => f.dataset.state !== 'loading');
  return figures.length === count && settled.length === count;
}"""


@pytest.fixture(scope="module")
def token_web(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second folio-web on the same Prometheus, with FOLIO_STATUS_TOKEN set."""
    (port,) = free_ports(1)
    log = tmp_path_factory.mktemp("token-web") / "web.log"
    env = {
        **os.environ,
        "FOLIO_API_URL": stack.api,
        "FOLIO_PROMETHEUS_URL": stack.prometheus,
        "FOLIO_STATUS_TOKEN": TOKEN,
    }
    command = [sys.executable, "-m", "folio", "web", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"folio-web did not start:\n{log.read_text()}"
            time.sleep(0.1)
        yield url
    finally:
        process.kill()
        process.wait()


def _points(series: dict[str, object]) -> int:
    values = series["values"]
    assert isinstance(values, list)
    return sum(value is not None for value in values)


@pytest.mark.parametrize("range_name", sorted(RANGES))
def test_every_chart_has_series_from_prometheus(stack: Stack, range_name: str) -> None:
    """Each chart's data endpoint answers with named series that have points, in every range."""
    for name in CHARTS:
        response = httpx.get(
            f"{stack.web}/status/data/{name}", params={"range": range_name}, timeout=10
        )
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert len(body["timestamps"]) == RANGES[range_name].seconds // body["step"] + 1
        with_points = {s["name"] for s in body["series"] if _points(s) > 0}
        assert with_points, f"{name} ({range_name}): no series with points: {body['series']}"
        assert with_points <= LEGENDS[name], (name, with_points)
    request_rate = httpx.get(f"{stack.web}/status/data/request_rate", timeout=10).json()
    assert {s["name"] for s in request_rate["series"]} == JOBS


def _active(stack: Stack) -> list[tuple[str, str]]:
    """(alertname, state) of every alert Prometheus has pending or firing, sorted."""
    response = httpx.get(f"{stack.prometheus}/api/v1/alerts", timeout=10)
    assert response.status_code == 200, response.text
    alerts = response.json()["data"]["alerts"]
    return sorted((a["labels"]["alertname"], a["state"]) for a in alerts)


def test_status_page_shows_the_alerts_prometheus_has(stack: Stack) -> None:
    """The alerts panel lists what /api/v1/alerts has, each linked to a /runbook section that
    exists, or says plainly that nothing is pending or firing."""
    for _ in range(20):  # an alert may change state mid-check: then look again
        before = _active(stack)
        page = httpx.get(f"{stack.web}/status", timeout=10)
        if _active(stack) == before:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the alerts kept changing")
    assert page.status_code == 200
    rows = sorted(re.findall(r'<tr data-alert="([^"]*)" data-state="([^"]*)"', page.text))
    assert rows == before
    shown = "active" if before else "none"
    assert f'data-status="alerts" data-alerts="{shown}"' in page.text
    assert (NO_ALERTS in page.text) == (not before)
    runbook = httpx.get(f"{stack.web}/runbook", timeout=10)
    assert runbook.status_code == 200
    assert 'id="foliotargetdown"' in runbook.text
    for name, _state in rows:
        assert f'href="/runbook#{name.lower()}"' in page.text
        assert f'id="{name.lower()}"' in runbook.text, f"no runbook section for {name}"


def _watch_console(page: Page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def _states(page: Page) -> dict[str, tuple[str, str]]:
    """Each chart's (data-state, message shown) as the page has them now."""
    figures = page.locator("figure[data-chart]")
    states = {}
    for index in range(figures.count()):
        figure = figures.nth(index)
        message = figure.locator(".status-message")
        shown = message.inner_text() if message.is_visible() else ""
        states[figure.get_attribute("data-chart") or ""] = (
            figure.get_attribute("data-state") or "",
            shown,
        )
    return states


def _wait_until_drawn(page: Page) -> None:
    page.wait_for_function(ALL_DRAWN, arg=len(CHARTS), timeout=20_000)
    states = _states(page)
    assert states == {name: ("ready", "") for name in CHARTS}, states


def test_status_page_draws_every_chart(stack: Stack, browser: Browser, artifacts: Path) -> None:
    """/status in Chromium: every chart drawn by uPlot with its legend, no console errors."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = _watch_console(page)
    page.goto(f"{stack.web}/status", wait_until="load")
    _wait_until_drawn(page)
    for name, legend in LEGENDS.items():
        figure = page.locator(f'figure[data-chart="{name}"]')
        assert figure.locator(".status-plot canvas").count() >= 1, name
        shown = set(figure.locator(".u-legend .u-series th").all_inner_texts())
        assert legend <= {label.strip() for label in shown}, (name, shown)
    assert page.locator("script[src*='rum.js']").count() == 0

    # Another range: every chart is fetched again, and drawn again.
    with page.expect_response(lambda r: "range=6h" in r.url) as response:
        page.get_by_role("button", name="6h").click()
    assert response.value.status == 200
    page.wait_for_timeout(500)
    _wait_until_drawn(page)
    page.get_by_role("button", name="15m").click()
    page.wait_for_timeout(500)
    _wait_until_drawn(page)

    page.screenshot(path=str(artifacts / "status.png"), full_page=True)
    page.close()
    assert problems == []


def test_token_page_in_the_browser(token_web: str, browser: Browser, artifacts: Path) -> None:
    """With a token, ?token= opens the page and status.js sends it on every data request."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    assert httpx.get(f"{token_web}/runbook", timeout=10).status_code == 401
    refused = page.goto(f"{token_web}/status", wait_until="load")
    assert refused is not None
    assert refused.status == 401
    assert "FOLIO_STATUS_TOKEN" in page.locator("main").inner_text()
    page.screenshot(path=str(artifacts / "status-401.png"), full_page=True)

    problems = _watch_console(page)
    sent: list[str | None] = []
    page.on(
        "request",
        lambda r: sent.append(r.headers.get("authorization")) if "/status/data/" in r.url else None,
    )
    page.goto(f"{token_web}/status?token={TOKEN}", wait_until="load")
    _wait_until_drawn(page)
    page.close()
    assert sent == [f"Bearer {TOKEN}"] * len(CHARTS)
    assert problems == []
