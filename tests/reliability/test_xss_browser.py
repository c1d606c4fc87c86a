"""Markdown cannot inject script, and the site runs clean under its CSP, in a real Chromium.

folio-api and folio-web run as real processes (as in tests/web/test_browser.py); a project
whose fields hold a corpus of XSS payloads is created through the API, and the browser
opens it, clicks every link in it, and watches for script, dialogs and CSP violations.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page

from folio.web.security import CONTENT_SECURITY_POLICY
from tests.site import seeded_site

API_TOKEN = "xss-test-token"
SLUG = "xss-corpus"
# Each payload sets window.__xss (or opens a dialog) if it ever runs. Those marked as
# "text" must show on the page as the literal characters the author typed.
BODY_PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2">',
    "<img src=x onerror=alert(2)>",
    "[click 3](javascript:window.__xss=3)",
    "[click 3b](JaVaScRiPt:window.__xss=3)",
    "[click 3c](&#106;avascript:window.__xss=3)",
    "[click 3d](java&#x09;script:window.__xss=3)",
    "[click 3e](<javascript:window.__xss=3>)",
    "[click 3f](javascript:alert(3))",
    '<svg onload="window.__xss=4"><circle r="1"/></svg>',
    "<svg><script>window.__xss=4</script></svg>",
    '<iframe srcdoc="<script>parent.__xss=5</script>"></iframe>',
    '<a href="data:text/html,<script>window.__xss=6</script>">raw data link</a>',
    "[data 7](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9Nzwvc2NyaXB0Pg==)",
    "[png 8](data:image/png;base64,iVBORw0KGgo=)",
    '![image 9](/static/missing-9.png "onerror=window.__xss=9")',
    '![x" onerror="window.__xss=10](/static/missing-10.png)',
    "![image 11](javascript:window.__xss=11)",
    "&lt;script&gt;window.__xss=12&lt;/script&gt;",
    "&#60;img src=x onerror=window.__xss=13&#62;",
    "[ref 14][evil]\n\n[evil]: javascript:window.__xss=14",
    "<javascript:window.__xss=15>",
    '[title 16](https://example.com/16 "x\\" onclick=\\"window.__xss=16")',
    '<details open ontoggle="window.__xss=17"><summary>s</summary></details>',
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=18">',
    '<form action="javascript:window.__xss=19"><button>go 19</button></form>',
    '<object data="javascript:window.__xss=20"></object><embed src="javascript:1">',
    '<base href="javascript:/">',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=21">',
    '<style>body { background: url("javascript:window.__xss=22") }</style>',
    "[vb 23](vbscript:msgbox(23))",
    '<a href="javas&#99;ript:window.__xss=24">raw entity link</a>',
    "`<script>window.__xss=25</script>` in code",
    "```html\n<script>window.__xss=26</script>\n```",
    "<!-- --><script>window.__xss=27</script><!-- -->",
    '<p style="background:url(javascript:window.__xss=28)">styled</p>',
    "[safe link](/projects)",
]
TITLE = "<script>window.__xss=30</script> title"
SUMMARY = '"><img src=x onerror="window.__xss=31"> summary'
# What must appear on the page as plain text, exactly as typed (or as the entity means).
SHOWN_AS_TEXT = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2">',
    '<svg onload="window.__xss=4">',
    '<iframe srcdoc="<script>parent.__xss=5</script>"></iframe>',
    "<script>window.__xss=12</script>",
    "<img src=x onerror=window.__xss=13>",
    "[click 3](javascript:window.__xss=3)",
    "[data 7](data:text/html;base64,",
    "[png 8](data:image/png;base64,",
    TITLE,
    SUMMARY,
]
# Elements that no markdown in this corpus may produce inside the rendered body.
FORBIDDEN = "script, iframe, svg, object, embed, form, base, meta, style, details, math, frame"
SITE_PAGES = ["/", "/projects", "/about", "/projects/portfolio-site", "/no/such/page"]


@dataclass
class Watcher:
    """What a page did that it should not: dialogs, CSP complaints, errors, new windows."""

    dialogs: list[str] = field(default_factory=list)
    csp_console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    popups: list[str] = field(default_factory=list)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.csp_console.append(message.text)

    def problems(self, violations: list[Any]) -> list[str]:
        found = [f"dialog: {text}" for text in self.dialogs]
        found += [f"CSP console: {text}" for text in self.csp_console]
        found += [f"CSP violation: {v}" for v in violations]
        found += [f"page error: {text}" for text in self.page_errors]
        found += [f"new window: {url}" for url in self.popups]
        return found


# Runs before any of the page's own scripts: CSP violations are recorded on the page, and
# survive as long as it does (each navigation starts a fresh list).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile);
});
"""


class FakePrometheus(BaseHTTPRequestHandler):
    """Answers /api/v1/query_range with one steady series, so /status draws real charts."""

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        start, end, step = (int(float(query[key][0])) for key in ("start", "end", "step"))
        values = [[t, "0.5"] for t in range(start, end + 1, step)]
        result = [{"metric": {"job": "folio-web"}, "values": values}]
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is not the place for an access log."""


@pytest.fixture(scope="module")
def prometheus() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, prometheus: str) -> Iterator[str]:
    """folio-api (seeded SQLite, plus the XSS project) and folio-web, as real processes."""
    settings = {"FOLIO_API_TOKEN": API_TOKEN, "FOLIO_PROMETHEUS_URL": prometheus}
    with seeded_site(tmp_path_factory.mktemp("xss"), settings) as running:
        _create_corpus_project(running.api)
        yield running.web


def _create_corpus_project(api_url: str) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    project = {
        "slug": SLUG,
        "title": TITLE,
        "summary": SUMMARY,
        "body": "\n\n".join(BODY_PAYLOADS),
        "tags": ["security"],
        "links": {"repository": "https://example.com/repo"},
        "published": True,
    }
    created = httpx.post(f"{api_url}/api/projects", json=project, headers=auth, timeout=10)
    assert created.status_code == 201, created.text
    # Project links never get that far: the API takes http(s) URLs only.
    for link in ("javascript:window.__xss=40", "data:text/html,<script>1</script>"):
        bad = {**project, "slug": "bad-link", "links": {"demo": link}}
        refused = httpx.post(f"{api_url}/api/projects", json=bad, headers=auth, timeout=10)
        assert refused.status_code == 422, refused.text


@pytest.fixture
def watched(browser: Browser, site: str) -> Iterator[tuple[Page, Watcher]]:
    """A page in a fresh context that records what it should never do; off-site is blocked."""
    context = browser.new_context()
    watcher = Watcher()
    context.add_init_script(RECORD_VIOLATIONS)
    # Nothing leaves the machine: an off-site request (a link to example.com) is aborted.
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(site)
            else route.abort("blockedbyclient")
        ),
    )
    context.on("page", lambda popup: watcher.popups.append(popup.url))
    page = context.new_page()
    watcher.popups.clear()  # the page just opened is ours, not a pop-up
    page.on("dialog", watcher.on_dialog)
    page.on("console", watcher.on_console)
    page.on("pageerror", lambda error: watcher.page_errors.append(str(error)))
    try:
        yield page, watcher
    finally:
        context.close()


def _injected(page: Page) -> Any:
    """window.__xss, or None when no payload ever ran on this page."""
    return page.evaluate("typeof window.__xss === 'undefined' ? null : window.__xss")


def _violations(page: Page) -> list[Any]:
    found: list[Any] = page.evaluate("window.__cspViolations || []")
    return found


def test_markdown_cannot_inject_script(
    watched: tuple[Page, Watcher], site: str, artifacts: Path
) -> None:
    """No payload in the title, summary or Markdown body runs, even when every link is clicked."""
    page, watcher = watched
    url = f"{site}/projects/{SLUG}"
    response = page.goto(url, wait_until="load")
    assert response is not None
    assert response.status == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts / "xss.png"), full_page=True)

    assert _injected(page) is None
    assert len(page.frames) == 1  # no iframe, srcdoc or otherwise
    prose = page.locator("article .prose")
    assert prose.locator(FORBIDDEN).count() == 0
    with_handlers = page.evaluate(
        """() => Array.from(document.querySelectorAll('*')).filter(el =>
             Array.from(el.attributes).some(a => a.name.startsWith('on') || a.name === 'style')
           ).map(el => el.outerHTML.slice(0, 120))"""
    )
    assert with_handlers == []
    text = page.locator("main").inner_text()
    for shown in SHOWN_AS_TEXT:
        assert shown in text, shown

    hrefs: list[str] = prose.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert f"{site}/projects" in hrefs  # the corpus's one safe link made it through
    for href in hrefs:
        assert href.startswith(("http://", "https://", "mailto:")), href
    sources: list[str] = prose.locator("img").evaluate_all("imgs => imgs.map(i => i.src)")
    assert len(sources) == 2, sources  # images 9 and 10, both on this site
    assert all(src.startswith(site) for src in sources), sources
    assert watcher.problems(_violations(page)) == []

    # Click every link in the body, each from a fresh load of the page: a javascript: URL
    # would run in place, so the page it was clicked on is checked whenever it is still there.
    for index, href in enumerate(hrefs):
        page.goto(url, wait_until="load")
        prose.locator("a").nth(index).click(no_wait_after=True)
        page.wait_for_timeout(500)
        if page.url == url:
            assert _injected(page) is None, href
        else:  # it went where the href says, or off-site, where the route refused to go
            assert page.url == href or page.url.startswith("chrome-error://"), (href, page.url)
    assert watcher.problems([]) == []


def test_site_pages_run_clean_under_the_csp(
    watched: tuple[Page, Watcher], site: str, artifacts: Path
) -> None:
    """Every page and the status page load their scripts and charts with no CSP violation."""
    page, watcher = watched
    before = _accepted_beacons(site)
    for path in SITE_PAGES:
        response = page.goto(site + path, wait_until="load")
        assert response is not None
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        page.wait_for_timeout(300)
        page.mouse.click(5, 5)
        assert page.evaluate("typeof window.webVitals") == "object", path  # web-vitals ran
        assert watcher.problems(_violations(page)) == [], path
        page.goto("about:blank")  # hidden: rum.js sends its beacon, through connect-src

    # /status: status.js fetches each chart's data and uPlot draws it, styles and all.
    response = page.goto(f"{site}/status", wait_until="load")
    assert response is not None
    assert response.headers["referrer-policy"] == "no-referrer"
    figures = page.locator("figure[data-chart]")
    assert figures.count() >= 4
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('figure[data-chart]'))
                 .every(f => f.dataset.state === 'ready')""",
        timeout=15_000,
    )
    assert page.locator("figure[data-chart] canvas").count() == figures.count()
    page.screenshot(path=str(artifacts / "status-csp.png"), full_page=True)
    assert watcher.problems(_violations(page)) == []
    assert _injected(page) is None
    _wait_for_beacons(site, before + len(SITE_PAGES))


def _accepted_beacons(site: str) -> float:
    for line in httpx.get(f"{site}/api/metrics", timeout=5).text.splitlines():
        if line.startswith('rum_beacons_total{result="accepted"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _wait_for_beacons(site: str, wanted: float) -> None:
    """rum.js reached /api/rum from every page: connect-src 'self' lets its beacons out."""
    for _ in range(40):
        if _accepted_beacons(site) >= wanted:
            return
        threading.Event().wait(0.25)
    assert _accepted_beacons(site) >= wanted
