"""/api/docs on a real `folio api`: Swagger UI from folio-api's own files, offline, under its CSP.

The browser may reach 127.0.0.1 only, as on a machine with no internet: the page must render
every operation from the vendored bundle, with no console error and no CSP violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from prometheus_client.parser import text_string_to_metric_families

from tests.ports import free_port
from tests.processes import Service, start, stop, wait_until

# Runs before the page's own scripts, so a violation during start-up is recorded too.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile);
});
"""
PROJECTS_LIST = ".opblock-get .opblock-summary-path[data-path='/api/projects']"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`folio api` as a real process on an empty SQLite file, still starting up."""
    directory = tmp_path_factory.mktemp("docs-ui")
    settings = {"FOLIO_DATABASE_URL": f"sqlite:///{directory}/folio.db"}
    service = start("api", free_port(), settings, directory / "api.log")
    try:
        yield service
    finally:
        stop(service)


@pytest.fixture
def api(server: Service) -> str:
    """The server's URL once it answers; a test that names ``server`` before ``browser`` lets
    folio-api import while Chromium launches."""
    wait_until(server, "/api/health", timeout=30)
    return server.url


@dataclass
class Watcher:
    """Console errors, uncaught exceptions and requests that tried to leave 127.0.0.1."""

    origin: str
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def on_route(self, route: Route) -> None:
        if route.request.url.startswith(self.origin + "/"):
            route.continue_()
        else:  # as on a machine with no internet; and the page should not even try
            self.outside.append(route.request.url)
            route.abort("internetdisconnected")


class _Assets(HTMLParser):
    """Every URL the page loads, and the text of any inline script."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") if tag == "script" else found.get("href")
        if url:
            self.urls.append(url)
        self._in_script = tag == "script" and not found.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def test_docs_render_offline_under_the_csp(
    server: Service, browser: Browser, api: str, artifacts: Path
) -> None:
    """Every operation shows, "Try it out" reaches the API, and nothing errs or leaves the host."""
    context = browser.new_context()
    watcher = Watcher(api)
    context.add_init_script(RECORD_VIOLATIONS)
    context.route("**/*", watcher.on_route)
    page: Page = context.new_page()
    page.on("console", watcher.on_console)
    page.on("pageerror", lambda error: watcher.errors.append(f"page error: {error}"))
    try:
        response = page.goto(f"{api}/api/docs", wait_until="load")
        assert response is not None
        assert response.status == 200
        operation = page.locator(PROJECTS_LIST)
        try:
            operation.wait_for(state="visible", timeout=10_000)
        except PlaywrightTimeoutError:
            pytest.fail(f"no operations rendered: {watcher.errors}, outside: {watcher.outside}")
        # One block per operation of the OpenAPI document, not just the first.
        paths = httpx.get(f"{api}/api/openapi.json", timeout=5).json()["paths"]
        expected = sum(1 for item in paths.values() for method in item if method != "parameters")
        assert page.locator(".opblock").count() == expected

        operation.click()
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        status = page.locator(".live-responses-table tr.response .response-col_status").first
        status.wait_for(state="visible", timeout=10_000)
        assert status.inner_text().strip() == "200"
        page.screenshot(path=str(artifacts / "api-docs.png"), full_page=True)
        violations: list[Any] = page.evaluate("window.__cspViolations")
    finally:
        context.close()
    assert not violations, violations
    assert not watcher.errors, watcher.errors
    assert not watcher.outside, f"the docs page reached outside folio-api: {watcher.outside}"


def test_docs_page_loads_only_its_own_files(api: str) -> None:
    """A strict CSP, no inline script, and every asset same-origin, served, and one series."""
    page = httpx.get(f"{api}/api/docs", timeout=5)
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe" not in policy
    assets = _Assets()
    assets.feed(page.text)
    assert not assets.inline_scripts
    assert len(assets.urls) == 4, assets.urls  # the stylesheet, the icon and two scripts
    for url in assets.urls:
        assert url.startswith("/api/docs/static/"), url  # a path: same origin, no CDN
        served = httpx.get(api + url, timeout=5)
        assert served.status_code == 200, url
        assert served.headers["x-content-type-options"] == "nosniff"
        assert "immutable" in served.headers["cache-control"]

    missing = httpx.get(f"{api}/api/docs/static/vendor/no-such-file.js", timeout=5)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

    metrics = httpx.get(f"{api}/api/metrics", timeout=5).text
    endpoints = {
        sample.labels["endpoint"]
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "http_requests_total"
    }
    docs = {endpoint for endpoint in endpoints if endpoint.startswith("/api/docs")}
    assert docs == {"/api/docs", "/api/docs/static/{path}"}, endpoints
