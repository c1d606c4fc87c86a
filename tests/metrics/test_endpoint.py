"""The metrics endpoint negotiates, compresses, guards with a token and coalesces renders."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from folio_metrics import MetricsEndpoint, MetricsRegistry
from starlette.applications import Starlette
from starlette.routing import Route

from tests.metrics.test_negotiation import PROMETHEUS_2


def _registry() -> MetricsRegistry:
    registry = MetricsRegistry()
    family = registry.counter("widgets_total", "Widgets.", ["colour"])
    for index in range(200):
        family.labels(f"colour-{index}").inc(exemplar={"trace_id": "a" * 32})
    return registry


@pytest.fixture
async def serve() -> AsyncIterator[tuple[MetricsRegistry, httpx.AsyncClient]]:
    registry = _registry()
    app = Starlette(routes=[Route("/metrics", MetricsEndpoint(registry, token="s3cret"))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.headers["Authorization"] = "Bearer s3cret"
        yield registry, client


async def test_text_is_the_default(serve: tuple[MetricsRegistry, httpx.AsyncClient]) -> None:
    """Without an Accept header the text format 0.0.4 is served."""
    response = await serve[1].get("/metrics", headers={"Accept-Encoding": "identity"})
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# EOF" not in response.text
    assert 'widgets_total{colour="colour-7"} 1' in response.text


async def test_prometheus_gets_openmetrics(
    serve: tuple[MetricsRegistry, httpx.AsyncClient],
) -> None:
    """Prometheus's own Accept header gets OpenMetrics, with exemplars."""
    response = await serve[1].get("/metrics", headers={"Accept": PROMETHEUS_2})
    assert response.headers["content-type"].startswith(
        "application/openmetrics-text; version=1.0.0"
    )
    assert response.text.endswith("# EOF\n")
    assert '# {trace_id="' in response.text


async def test_gzip_when_accepted(serve: tuple[MetricsRegistry, httpx.AsyncClient]) -> None:
    """A client that accepts gzip gets a gzipped body that decodes to the same text."""
    plain = await serve[1].get("/metrics", headers={"Accept-Encoding": "identity"})
    zipped = await serve[1].get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert int(zipped.headers["content-length"]) < len(plain.content)
    assert zipped.text == plain.text  # httpx decodes it
    assert "content-encoding" not in plain.headers


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic czNjcmV0"])
async def test_token_is_required_when_configured(
    serve: tuple[MetricsRegistry, httpx.AsyncClient], authorization: str | None
) -> None:
    """Without the right bearer token the endpoint answers 401 and renders nothing."""
    client = serve[1]
    del client.headers["Authorization"]
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "unauthorized"


async def test_head_has_headers_and_no_body(
    serve: tuple[MetricsRegistry, httpx.AsyncClient],
) -> None:
    """HEAD answers like GET without the body."""
    response = await serve[1].head("/metrics")
    assert response.status_code == 200
    assert response.content == b""


async def test_concurrent_scrapes_share_one_render(
    serve: tuple[MetricsRegistry, httpx.AsyncClient],
) -> None:
    """Scrapes that arrive while a render runs share the next one: fresh, and rendered once."""
    registry, client = serve
    renders = 0
    begun = threading.Event()
    jobs = registry.counter("jobs_total", "Jobs done.")

    def slow_hook() -> None:
        nonlocal renders
        renders += 1
        begun.set()
        time.sleep(0.2)  # runs in the render thread, not on the event loop

    registry.on_collect("slow", slow_hook)
    first = asyncio.ensure_future(client.get("/metrics"))
    await asyncio.to_thread(begun.wait, 5)
    later = [asyncio.ensure_future(client.get("/metrics")) for _ in range(4)]
    await asyncio.sleep(0.05)  # the four have arrived while the first render runs
    jobs.unlabelled().inc()  # before any render but the first can begin
    responses = await asyncio.gather(*later)
    assert (await first).status_code == 200
    assert {response.status_code for response in responses} == {200}
    assert {response.text for response in responses} == {responses[0].text}
    assert "jobs_total 1\n" in responses[0].text
    assert renders == 2


async def test_failing_collect_hook_is_counted_and_the_scrape_succeeds(
    serve: tuple[MetricsRegistry, httpx.AsyncClient],
) -> None:
    """A collect hook that raises is logged and counted; the scrape still answers 200."""
    registry, client = serve

    def broken() -> None:
        raise RuntimeError("pool went away")

    registry.on_collect("broken_hook", broken)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert 'folio_metrics_errors_total{hook="broken_hook",reason="exception"} 1' in response.text
