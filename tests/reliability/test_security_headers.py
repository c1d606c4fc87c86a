"""folio-web's security headers, in-process: every kind of response, and a self-only CSP.

folio-web runs against an in-process folio-api (the ``app`` fixture of tests/conftest.py),
as in tests/web; the browser's view of the same CSP is in test_xss_browser.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Message, Receive, Scope, Send

from folio.web.app import create_app
from folio.web.security import CONTENT_SECURITY_POLICY, SecurityHeadersMiddleware
from folio.web.settings import WebSettings
from tests.conftest import TOKEN
from tests.factories import project_payload

SITE = "http://folio.test"
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "folio" / "web" / "templates"
EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "DENY",
}
BEACON = '{"page": "/", "vitals": [{"name": "LCP", "value": 1200}]}'


async def _boom() -> None:
    raise RuntimeError("a bug in a handler, for the 500 page")


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[FastAPI]:
    """folio-web over the in-process folio-api, plus a route that fails with a 500."""
    web = create_app(WebSettings(), api_transport=httpx.ASGITransport(app=app))
    web.add_api_route("/boom", _boom)
    yield web
    await web.state.api.aclose()


@pytest.fixture
async def site(web: FastAPI, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``web``, with one published project in folio-api."""
    api_transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=api_transport, base_url=SITE) as api:
        created = await api.post(
            "/api/projects",
            json=project_payload("secure-project"),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert created.status_code == 201, created.text
    # Starlette re-raises a handler's exception after sending its 500 page: keep the page.
    transport = httpx.ASGITransport(app=web, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
        yield client


async def _every_kind_of_response(site: httpx.AsyncClient) -> dict[str, httpx.Response]:
    rum_headers = {"Origin": SITE, "Content-Type": "text/plain"}
    return {
        "home": await site.get("/"),
        "about": await site.get("/about"),
        "projects": await site.get("/projects"),
        "project": await site.get("/projects/secure-project"),
        "missing project": await site.get("/projects/no-such-project"),
        "404 page": await site.get("/no/such/page"),
        "500 page": await site.get("/boom"),
        "405": await site.post("/about"),
        "static file": await site.get("/static/style.css"),
        "rum beacon": await site.post("/api/rum", content=BEACON, headers=rum_headers),
        "refused beacon": await site.post("/api/rum", content="{", headers=rum_headers),
        "health": await site.get("/api/health"),
        "readiness": await site.get("/api/health/ready"),
        "metrics": await site.get("/api/metrics"),
        "status": await site.get("/status"),
        "status data": await site.get("/status/data/request_rate"),
    }


async def test_every_kind_of_response_carries_the_headers_once(site: httpx.AsyncClient) -> None:
    """Pages, error pages (404, 405, 500), static files, JSON and /status get each header once."""
    responses = await _every_kind_of_response(site)
    statuses = {name: response.status_code for name, response in responses.items()}
    assert statuses == {
        "home": 200,
        "about": 200,
        "projects": 200,
        "project": 200,
        "missing project": 404,
        "404 page": 404,
        "500 page": 500,
        "405": 405,
        "static file": 200,
        "rum beacon": 204,
        "refused beacon": 400,
        "health": 200,
        "readiness": 200,
        "metrics": 200,
        "status": 200,
        "status data": 503,  # no Prometheus configured: a JSON error, headers all the same
    }
    for name, response in responses.items():
        for header, value in EXPECTED.items():
            if name.startswith("status") and header == "referrer-policy":
                value = "no-referrer"  # the status page's own, stricter policy is kept
            assert response.headers.get_list(header) == [value], (name, header)


async def test_pages_degraded_by_a_folio_api_outage_carry_the_headers() -> None:
    """With folio-api unreachable, the 503 pages carry the same headers."""
    settings = WebSettings(api_url="http://127.0.0.1:1", api_timeout_seconds=0.5, api_retries=0)
    web = create_app(settings)
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
        for path in ("/projects", "/projects/any-project"):
            response = await client.get(path)
            assert response.status_code == 503, path
            for header, value in EXPECTED.items():
                assert response.headers.get_list(header) == [value], (path, header)
    await web.state.api.aclose()


async def test_error_pages_are_counted_with_their_final_status(site: httpx.AsyncClient) -> None:
    """The metrics middleware still counts each response under the status the client got."""
    await _every_kind_of_response(site)
    samples = {
        (sample.labels["endpoint"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families((await site.get("/api/metrics")).text)
        for sample in family.samples
        if sample.name == "http_requests_total"
    }
    assert samples[("/boom", "500")] == 1
    assert samples[("/about", "405")] == 1
    assert samples[("/projects/{slug}", "404")] == 1
    assert samples[("/api/rum", "204")] == 1


def test_the_policy_allows_only_self() -> None:
    """Every CSP source is 'self' or 'none'; nothing inline, no eval, no data:, no framing."""
    directives = dict(
        (name, sources)
        for name, *sources in (part.split() for part in CONTENT_SECURITY_POLICY.split(";"))
    )
    for name, sources in directives.items():
        assert sources, name
        assert set(sources) <= {"'self'", "'none'"}, name
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
    for name in ("default-src", "script-src", "style-src", "connect-src", "img-src"):
        assert directives[name] == ["'self'"], name
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]


async def test_a_header_the_app_set_is_kept_and_other_scopes_pass() -> None:
    """The middleware never overrides a route's own header, and passes lifespan scopes through."""
    seen: list[Message] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(b"X-Frame-Options", b"SAMEORIGIN")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
        else:
            await send({"type": "lifespan.startup.complete"})

    async def record(message: Message) -> None:
        seen.append(message)

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    middleware = SecurityHeadersMiddleware(inner)
    await middleware({"type": "lifespan"}, nothing, record)
    assert seen == [{"type": "lifespan.startup.complete"}]
    await middleware({"type": "http", "method": "GET", "path": "/"}, nothing, record)
    headers = [(name.decode().lower(), value.decode()) for name, value in seen[1]["headers"]]
    assert [value for name, value in headers if name == "x-frame-options"] == ["SAMEORIGIN"]
    assert ("x-content-type-options", "nosniff") in headers


class _Inline(HTMLParser):
    """Collects inline scripts (no src), <style> elements and style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if (tag == "script" and not attributes.get("src")) or tag == "style":
            self.found.append(self.get_starttag_text() or tag)
        if "style" in attributes or any(name.startswith("on") for name in attributes):
            self.found.append(self.get_starttag_text() or tag)


async def test_rendered_pages_have_no_inline_script_or_style(site: httpx.AsyncClient) -> None:
    """No page the site serves needs what the CSP forbids: inline script, style or handlers."""
    responses = await _every_kind_of_response(site)
    for name, response in responses.items():
        if response.headers.get("content-type", "").startswith("text/html"):
            parser = _Inline()
            parser.feed(response.text)
            assert parser.found == [], name


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)
STYLE_OR_HANDLER_ATTRIBUTE = re.compile(r"<[a-z][^>]*\s(style|on[a-z]+)\s*=", re.IGNORECASE)


def test_templates_have_no_inline_script_or_style() -> None:
    """No template has a <script> without src, a <style>, a style= or an on*= attribute."""
    templates = sorted(TEMPLATES.glob("*.html"))
    assert len(templates) >= 8  # every page, the error and status pages, and the macros
    for template in templates:
        text = template.read_text()
        for pattern in (INLINE_SCRIPT, STYLE_ELEMENT, STYLE_OR_HANDLER_ATTRIBUTE):
            assert pattern.search(text) is None, (template.name, pattern.pattern)
