"""folio-web in a real Chromium: pages render and rum.js beacons reach /api/metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page
from prometheus_client.parser import text_string_to_metric_families

from tests.site import seeded_site

PAGES = {"/": "/", "/projects": "/projects", "/projects/portfolio-site": "/projects/{slug}"}
VITALS = ("ttfb_seconds", "fcp_seconds", "lcp_seconds", "inp_seconds", "cls")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """folio-api (seeded SQLite) and folio-web as real processes; yields folio-web's URL."""
    settings = {
        "FOLIO_API_TOKEN": "browser-test-token",
        # Every beacon comes from 127.0.0.1, and each page's vitals must all be observed.
        "FOLIO_RUM_VITALS_PER_HOUR": "1000",
    }
    with seeded_site(tmp_path_factory.mktemp("browser"), settings) as running:
        yield running.web


def _metrics(site: str) -> Samples:
    text = httpx.get(f"{site}/api/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _eventually(site: str, problems: Callable[[Samples], list[str]]) -> None:
    """Poll /api/metrics for up to 10 s until ``problems`` finds nothing wrong."""
    deadline = time.monotonic() + 10
    while True:
        found = problems(_metrics(site))
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert not found, "\n".join(found)


def _visit(page: Page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.wait_for_timeout(300)  # paint and LCP entries land after 'load'
    page.mouse.click(5, 5)  # an interaction, so INP has something to measure
    page.keyboard.press("Shift")
    page.wait_for_timeout(100)


def test_pages_and_browser_beacons_reach_metrics(
    browser: Browser, site: str, artifacts: Path
) -> None:
    """Three pages render in Chromium, and their server and browser-reported metrics appear."""
    page = browser.new_page()
    for path in PAGES:
        _visit(page, site + path)
        name = path.strip("/").replace("/", "-") or "home"
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    page.goto("about:blank")  # leaving the page hides it: rum.js sends its beacon
    page.close()

    def problems(samples: Samples) -> list[str]:
        wanted = [("page_views_total", r) for r in PAGES.values()]
        wanted += [("ssr_duration_seconds_count", r) for r in PAGES.values()]
        # Headless Chromium reports all five; INP thanks to the click in _visit.
        for vital in VITALS:
            wanted += [(f"web_vitals_{vital}_count", r) for r in PAGES.values()]
        found = [f"{n}{{route={r!r}}} is 0" for n, r in wanted if not _value(samples, n, route=r)]
        for endpoint in ("/api/projects", "/api/projects/{slug}"):
            if not _value(samples, "api_calls_total", endpoint=endpoint, status="200"):
                found.append(f"api_calls_total{{endpoint={endpoint!r},status='200'}} is 0")
        for kind in ("script", "stylesheet"):
            if not _value(samples, "static_asset_load_duration_seconds_count", type=kind):
                found.append(f"static_asset_load_duration_seconds_count{{type={kind!r}}} is 0")
        if _value(samples, "rum_beacons_total", result="accepted") < len(PAGES):
            found.append(f"fewer than {len(PAGES)} rum_beacons_total{{result='accepted'}}")
        return found

    _eventually(site, problems)


def test_browser_errors_are_counted(browser: Browser, site: str) -> None:
    """An uncaught error and an unhandled rejection in the page raise client_errors_total."""
    before = _metrics(site)
    page = browser.new_page()
    _visit(page, f"{site}/projects")
    page.evaluate("setTimeout(() => { throw new Error('boom from test') }, 0)")
    page.evaluate("Promise.reject(new Error('rejected in test')); 0")
    page.wait_for_timeout(300)
    page.goto("about:blank")
    page.close()

    def problems(samples: Samples) -> list[str]:
        return [
            f"client_errors_total{{type={kind!r}}} did not rise"
            for kind in ("js_error", "unhandled_rejection")
            if _value(samples, "client_errors_total", type=kind)
            < _value(before, "client_errors_total", type=kind) + 1
        ]

    _eventually(site, problems)
