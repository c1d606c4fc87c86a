"""Pages kept by folio-web's workers and by HTTP caches are never stale: real processes.

folio-web keeps folio-api's answers and its rendered pages per worker, and revalidates
with folio-api on every view. A write through folio-api shows on the next view, whichever
of `folio web --workers 2`'s workers serves it, and pages answer If-None-Match with 304.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.factories import project_payload
from tests.ports import free_ports
from tests.processes import Service, counter, running, wait_until

TOKEN = "fresh-pages-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Each view on a new connection, so both workers serve some (one worker can take a handful
# in a row, never all of these in practice).
VIEWS = 8


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, Service]]:
    """folio-api on a seeded SQLite file, and folio-web with two workers reading it."""
    directory = tmp_path_factory.mktemp("fresh")
    api_port, web_port = free_ports(2)
    api_settings = {
        "FOLIO_DATABASE_URL": f"sqlite:///{directory}/folio.db",
        "FOLIO_API_TOKEN": TOKEN,
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "folio", "db", "seed"],
        env={**os.environ, **api_settings},
        capture_output=True,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr
    web_settings = {"FOLIO_API_URL": f"http://127.0.0.1:{api_port}"}
    with ExitStack() as stack:
        api = stack.enter_context(running("api", api_port, api_settings, directory / "api.log"))
        web = stack.enter_context(
            running("web", web_port, web_settings, directory / "web.log", "--workers", "2")
        )
        wait_until(api, "/api/health/ready")
        wait_until(web, "/api/health/ready")
        yield api, web


def _views(web: Service, path: str) -> list[httpx.Response]:
    return [httpx.get(f"{web.url}{path}", timeout=10) for _ in range(VIEWS)]


def _write(api: Service, method: str, path: str, body: dict[str, object] | None = None) -> None:
    response = httpx.request(method, f"{api.url}{path}", json=body, headers=AUTH, timeout=10)
    assert response.status_code in (200, 201, 204), response.text


def test_each_write_shows_on_the_next_view_on_every_worker(site: tuple[Service, Service]) -> None:
    """Create, retitle, unpublish and delete: every view right after each write shows it."""
    api, web = site
    _write(api, "POST", "/api/projects", project_payload("fresh-one", title="First title"))
    for response in _views(web, "/projects/fresh-one") + _views(web, "/"):
        assert response.status_code == 200
        assert "First title" in response.text

    _write(api, "PATCH", "/api/projects/fresh-one", {"title": "Second title"})
    for response in _views(web, "/projects/fresh-one") + _views(web, "/"):
        assert response.status_code == 200
        assert "Second title" in response.text
        assert "First title" not in response.text

    _write(api, "PATCH", "/api/projects/fresh-one", {"published": False})
    assert {r.status_code for r in _views(web, "/projects/fresh-one")} == {404}
    assert not any("Second title" in r.text for r in _views(web, "/") + _views(web, "/projects"))

    _write(api, "PATCH", "/api/projects/fresh-one", {"published": True})
    assert {r.status_code for r in _views(web, "/projects/fresh-one")} == {200}
    _write(api, "DELETE", "/api/projects/fresh-one")
    gone = _views(web, "/projects/fresh-one")
    assert {r.status_code for r in gone} == {404}
    assert all(r.headers["cache-control"] == "no-store" for r in gone)
    assert not any("Second title" in r.text for r in _views(web, "/"))


def test_pages_answer_if_none_match_with_304(site: tuple[Service, Service]) -> None:
    """A page's ETag gives a 304 without a body, on GET and HEAD, until a write changes it."""
    api, web = site
    _write(api, "POST", "/api/projects", project_payload("etagged", title="Tagged once"))
    for path in ("/", "/about", "/projects", "/projects/etagged"):
        first = httpx.get(f"{web.url}{path}", timeout=10)
        assert first.status_code == 200
        assert first.headers["cache-control"] == "public, no-cache"
        etag = first.headers["etag"]
        for method in ("GET", "HEAD"):
            for _ in range(4):  # both workers derive the same ETag from the same page
                again = httpx.request(
                    method, f"{web.url}{path}", headers={"If-None-Match": etag}, timeout=10
                )
                assert again.status_code == 304, (path, method)
                assert again.content == b""
                assert again.headers["etag"] == etag
                assert again.headers["cache-control"] == "public, no-cache"
        head = httpx.head(f"{web.url}{path}", timeout=10)
        assert head.status_code == 200
        assert head.headers["etag"] == etag

    before = httpx.get(f"{web.url}/projects/etagged", timeout=10).headers["etag"]
    _write(api, "PATCH", "/api/projects/etagged", {"title": "Tagged twice"})
    for _ in range(4):
        after = httpx.get(
            f"{web.url}/projects/etagged", headers={"If-None-Match": before}, timeout=10
        )
        assert after.status_code == 200
        assert "Tagged twice" in after.text
        assert after.headers["etag"] != before


def test_revalidations_are_counted_as_304_calls(site: tuple[Service, Service]) -> None:
    """Each view is one folio-api call, and an unchanged answer counts as status 304."""
    _api, web = site
    metrics = httpx.get(f"{web.url}/api/metrics", timeout=10).text
    calls_before = counter(metrics, "api_calls_total", endpoint="/api/projects/{slug}")
    revalidated = counter(metrics, "api_calls_total", endpoint="/api/projects/{slug}", status="304")
    views = _views(web, "/projects/portfolio-site")
    assert {r.status_code for r in views} == {200}
    metrics = httpx.get(f"{web.url}/api/metrics", timeout=10).text
    calls = counter(metrics, "api_calls_total", endpoint="/api/projects/{slug}") - calls_before
    assert calls == VIEWS
    grown = counter(metrics, "api_calls_total", endpoint="/api/projects/{slug}", status="304")
    # Each worker's first view fetches in full; every later one on that worker is a 304.
    assert grown - revalidated >= VIEWS - 2
    assert counter(metrics, "api_calls_total", status="error") == 0


def test_only_the_current_version_of_an_asset_is_immutable(site: tuple[Service, Service]) -> None:
    """?v=<this file's hash> may be kept a year; another release's ?v= by no cache at all."""
    _api, web = site
    page = httpx.get(f"{web.url}/about", timeout=10).text
    start = page.index("/static/style.css?v=")
    current = page[start : page.index('"', start)]
    policies = {
        url: httpx.get(f"{web.url}{url}", timeout=10).headers["cache-control"]
        for url in (current, "/static/style.css?v=0123456789ab", "/static/style.css")
    }
    assert list(policies.values()) == [
        "public, max-age=31536000, immutable",
        "no-store",
        "public, max-age=300",
    ]
