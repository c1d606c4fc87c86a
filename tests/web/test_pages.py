"""The pages render from folio-api's data, safely, and degrade when it is down."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.factories import project_payload


async def _publish(
    api: httpx.AsyncClient, auth: dict[str, str], slug: str, **fields: object
) -> None:
    response = await api.post("/api/projects", json=project_payload(slug, **fields), headers=auth)
    assert response.status_code == 201


async def test_home_shows_featured_projects(
    site: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """/ lists the newest published projects with links to their pages."""
    await _publish(client, auth, "alpha", title="Alpha project")
    await _publish(client, auth, "hidden", title="Hidden draft", published=False)
    response = await site.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Alpha project" in response.text
    assert 'href="/projects/alpha"' in response.text
    assert "Hidden draft" not in response.text


async def test_about_page(site: httpx.AsyncClient) -> None:
    """/about renders without needing the API."""
    response = await site.get("/about")
    assert response.status_code == 200
    assert "<h1" in response.text


async def test_projects_filter_and_pagination(
    site: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """The tag filter narrows the list and page 2 holds what page 1 could not."""
    for index in range(11):
        await _publish(client, auth, f"p-{index:02d}", title=f"Project {index:02d}", tags=["many"])
    await _publish(client, auth, "odd-one", title="Odd one", tags=["odd"])
    odd = await site.get("/projects", params={"tag": "odd"})
    assert "Odd one" in odd.text
    assert "Project 05" not in odd.text
    first = await site.get("/projects", params={"tag": "many"})
    second = await site.get("/projects", params={"tag": "many", "page": 2})
    assert "Project 10" in first.text
    assert "Project 01" in second.text
    assert "Project 10" not in second.text


async def test_project_page_renders_markdown_safely(
    site: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Markdown becomes HTML; raw HTML and javascript: links in it do not."""
    body = "## Design\n\n<script>alert('x')</script>\n\n[click](javascript:alert(1)) **bold**"
    await _publish(client, auth, "safe", body=body)
    response = await site.get("/projects/safe")
    assert response.status_code == 200
    assert "<h2>Design</h2>" in response.text
    assert "<strong>bold</strong>" in response.text
    assert "<script>alert" not in response.text
    assert 'href="javascript:' not in response.text


async def test_unknown_pages_are_friendly_404s(site: httpx.AsyncClient) -> None:
    """Unknown projects, paths and page numbers get the HTML 404 page."""
    for path in ["/projects/no-such", "/nowhere", "/projects?page=0", "/projects?tag=BAD TAG"]:
        response = await site.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text


async def test_api_down_gives_503_with_a_clear_message(api_down_site: httpx.AsyncClient) -> None:
    """When folio-api cannot be reached, pages say so with 503 and no stack trace."""
    for path in ["/", "/projects", "/projects/anything"]:
        response = await api_down_site.get(path)
        assert response.status_code == 503, path
        assert "unavailable" in response.text.lower()
        assert "Traceback" not in response.text
    assert (await api_down_site.get("/about")).status_code == 200


async def test_api_failures_are_counted(api_down_site: httpx.AsyncClient) -> None:
    """Each attempt at an unreachable folio-api is counted as an error, retry included."""
    await api_down_site.get("/")
    metrics = (await api_down_site.get("/api/metrics")).text
    assert 'api_calls_total{endpoint="/api/projects",status="error"} 2' in metrics


async def test_static_assets_are_versioned_and_cached(site: httpx.AsyncClient) -> None:
    """Pages link assets with ?v=<hash>; those URLs are cacheable for a year."""
    page = (await site.get("/about")).text
    start = page.index("/static/style.css?v=")
    url = page[start : page.index('"', start)]
    response = await site.get(url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    unversioned = await site.get("/static/style.css")
    assert unversioned.headers["cache-control"] == "public, max-age=300"


async def test_page_metrics(
    site: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str], web_app: FastAPI
) -> None:
    """Successful renders count as page views with SSR time; 404s do not count as views."""
    await _publish(client, auth, "counted")
    for path in ["/", "/projects", "/projects/counted", "/projects/missing"]:
        await site.get(path)
    observability = web_app.state.observability
    views = {key[0]: child.value for key, child in observability.page_views.children.items()}
    assert views == {"/": 1, "/projects": 1, "/projects/{slug}": 1}
    assert observability.ssr_duration.labels("/projects/{slug}").count == 2
    calls = web_app.state.api.calls.children
    assert calls[("/api/projects/{slug}", "200")].value == 1
    assert calls[("/api/projects/{slug}", "404")].value == 1
