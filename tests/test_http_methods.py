"""HEAD on every GET route and Allow on every 405, against real folio-api and folio-web.

The servers run as processes (`python -m folio api|web`, SQLite, seeded) and are spoken to
over raw sockets, so uvicorn's own HEAD handling and framing are part of what is tested.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.site import Site, seeded_site

SLUG = "portfolio-site"  # one of the seeded demo projects
WEB_PAGES = ("/", "/projects", "/about", f"/projects/{SLUG}", "/status")
API_READS = ("/api/projects", f"/api/projects/{SLUG}")


@dataclass(frozen=True)
class Raw:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with seeded_site(tmp_path_factory.mktemp("http-methods"), {}) as running:
        yield running


def _raw(base: str, method: str, path: str) -> Raw:
    """One request on its own connection, read to EOF: whatever bytes the server sends."""
    host, port = base.removeprefix("http://").split(":")
    request = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    if method not in ("GET", "HEAD"):
        request += "Content-Length: 0\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(f"{request}\r\n".encode())
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [
        (name.lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines)
    ]
    return Raw(int(status_line.split()[1]), headers, body)


def _comparable(response: Raw) -> list[tuple[str, str]]:
    return sorted(header for header in response.headers if header[0] != "date")


def _assert_head_is_get(base: str, path: str) -> None:
    get, head = _raw(base, "GET", path), _raw(base, "HEAD", path)
    assert get.status == 200, (path, get.status)
    assert head.status == get.status, (path, head.status)
    assert _comparable(head) == _comparable(get), path
    assert head.header("content-length") == str(len(get.body)), path
    assert head.body == b"", path


@pytest.mark.parametrize("path", WEB_PAGES)
def test_head_on_a_web_page_answers_as_get_without_the_body(site: Site, path: str) -> None:
    """HEAD on folio-web's pages: GET's status and headers, Content-Length included, no body."""
    _assert_head_is_get(site.web, path)


@pytest.mark.parametrize("path", API_READS)
def test_head_on_an_api_read_answers_as_get_without_the_body(site: Site, path: str) -> None:
    """HEAD on folio-api's GET routes: GET's status and headers, no body."""
    _assert_head_is_get(site.api, path)


@pytest.mark.parametrize(
    ("service", "method", "path", "allowed"),
    [
        ("web", "POST", "/", {"GET", "HEAD"}),
        ("web", "DELETE", "/projects", {"GET", "HEAD"}),
        ("web", "POST", "/static/style.css", {"GET", "HEAD"}),
        ("web", "GET", "/api/rum", {"POST"}),
        ("web", "HEAD", "/api/rum", {"POST"}),
        ("api", "DELETE", "/api/projects", {"GET", "HEAD", "POST"}),
        ("api", "PUT", f"/api/projects/{SLUG}", {"GET", "HEAD", "PATCH", "DELETE"}),
    ],
)
def test_every_405_carries_allow(
    site: Site, service: str, method: str, path: str, allowed: set[str]
) -> None:
    """A 405 names, in Allow, every method the path accepts, HEAD wherever GET is."""
    response = _raw(site.web if service == "web" else site.api, method, path)
    assert response.status == 405
    allow = response.header("allow")
    assert allow is not None, f"{method} {path}: 405 without Allow"
    assert set(allow.split(", ")) == allowed


def _requests_total(base: str) -> dict[tuple[str, str, str], float]:
    text = httpx.get(f"{base}/api/metrics", timeout=10).text
    return {
        (sample.labels["method"], sample.labels["endpoint"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "http_requests_total"
    }


@pytest.mark.parametrize(
    ("service", "path", "template"),
    [("web", f"/projects/{SLUG}", "/projects/{slug}"), ("api", "/api/projects", "/api/projects")],
)
def test_head_is_counted_as_head_under_the_get_route(
    site: Site, service: str, path: str, template: str
) -> None:
    """http_requests_total{method="HEAD"} gets the GET route's template; bad paths add no series."""
    base = site.web if service == "web" else site.api
    before = _requests_total(base)
    assert _raw(base, "HEAD", path).status == 200
    after = _requests_total(base)
    assert after.get(("HEAD", template, "200"), 0) - before.get(("HEAD", template, "200"), 0) == 1
    assert after.get(("GET", template, "200")) == before.get(("GET", template, "200"))
    # The metrics endpoint still answers HEAD itself, with its length and no body.
    metrics = _raw(base, "HEAD", "/api/metrics")
    assert metrics.status == 200
    assert metrics.body == b""
    assert int(metrics.header("content-length") or 0) > 0

    # HEAD on paths that are not there: counted under a template or <unmatched>, never the path.
    for bogus in (f"{path}/no-such-thing", f"{path}-no-such-thing", "/no-such-thing"):
        _raw(base, "HEAD", bogus)
    endpoints = {endpoint for _, endpoint, _ in _requests_total(base)}
    assert not [endpoint for endpoint in endpoints if "no-such" in endpoint or SLUG in endpoint]


def test_head_on_an_unknown_path_answers_as_get_would(site: Site) -> None:
    """A HEAD that gets 404 has the 404 headers a GET gets, Content-Length included."""
    for base, path in ((site.api, "/api/nope"), (site.web, "/api/nope"), (site.web, "/nope")):
        get, head = _raw(base, "GET", path), _raw(base, "HEAD", path)
        assert (get.status, head.status) == (404, 404), path
        assert _comparable(head) == _comparable(get), path
        assert head.body == b"", path


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/rum", 405), ("PUT", "/api/health", 405), ("GET", "/api/nope", 404)],
)
def test_folio_webs_api_paths_answer_errors_in_json(
    site: Site, method: str, path: str, status: int
) -> None:
    """folio-web's /api/* paths are for machines: their 404s and 405s are the JSON shape."""
    response = _raw(site.web, method, path)
    assert response.status == status
    assert response.header("content-type") == "application/json"
    error = json.loads(response.body)["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == {404: "not_found", 405: "method_not_allowed"}[status]
    assert path in error["message"]
