"""folio-api's /api/metrics: exact counts, business metrics, token, and bounded series."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from folio_metrics import UNMATCHED
from prometheus_client.parser import text_string_to_metric_families

from folio.api.app import create_app
from folio.api.db import create_engine
from folio.api.migrate import upgrade
from folio.api.settings import ApiSettings
from tests.factories import project_payload

HTTP_FAMILIES = [
    "http_requests",
    "http_request_duration_seconds",
    "http_requests_in_progress",
    "http_request_size_bytes",
    "http_response_size_bytes",
]
# The nine standard methods, plus two that are recorded as "other": ten method labels.
HTTP_SAMPLE_NAMES = ["http_requests_total", *HTTP_FAMILIES[1:]]
METHODS = [
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "CONNECT",
    "TRACE",
    "BREW",
    "PURGE",
]


async def _scrape(client: httpx.AsyncClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    response = await client.get("/api/metrics")
    assert response.status_code == 200
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


async def test_requests_are_counted_exactly(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Each request shows up once, under its route template and exact status."""
    for index in range(3):
        await client.post("/api/projects", json=project_payload(f"p-{index}"), headers=auth)
        await client.get(f"/api/projects/p-{index}")
        await client.get("/api/projects/missing")
        await client.get(f"/random/{index}")
    samples = await _scrape(client)
    requests = samples["http_requests_total"]
    assert requests[_labels(method="POST", endpoint="/api/projects", status="201")] == 3
    assert requests[_labels(method="GET", endpoint="/api/projects/{slug}", status="200")] == 3
    assert requests[_labels(method="GET", endpoint="/api/projects/{slug}", status="404")] == 3
    assert requests[_labels(method="GET", endpoint=UNMATCHED, status="404")] == 3
    assert not any("/api/metrics" in dict(labels)["endpoint"] for labels in requests)
    assert samples["folio_projects_created_total"][()] == 3
    errors = samples["app_errors_total"]
    assert errors[_labels(endpoint="/api/projects/{slug}", type="not_found")] == 3
    per_request = samples["db_queries_per_request_count"]
    assert per_request[_labels(endpoint="/api/projects/{slug}")] == 6


async def test_project_gauge_follows_writes(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """folio_projects{state} is refreshed in the background after writes."""
    async with app.router.lifespan_context(app):
        await client.post("/api/projects", json=project_payload("live"), headers=auth)
        await client.post(
            "/api/projects", json=project_payload("draft", published=False), headers=auth
        )
        observability = app.state.observability
        for _ in range(100):
            published = observability.projects.labels("published").value
            draft = observability.projects.labels("draft").value
            if (published, draft) == (1, 1):
                break
            await _tick()
        samples = await _scrape(client)
    assert samples["folio_projects"][_labels(state="published")] == 1
    assert samples["folio_projects"][_labels(state="draft")] == 1


async def _tick() -> None:
    await asyncio.sleep(0.02)


async def test_build_info_and_runtime_metrics_are_served(client: httpx.AsyncClient) -> None:
    """Build info, process, GC, Python info and loop lag are all exported."""
    samples = await _scrape(client)
    (build_labels,) = samples["folio_build_info"]
    assert dict(build_labels)["version"]
    for name in [
        "process_cpu_seconds_total",
        "python_gc_collections_total",
        "python_info",
        "python_asyncio_event_loop_lag_seconds_count",
    ]:
        assert name in samples, name


@pytest.fixture
async def guarded_client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client for an app whose metrics need FOLIO_METRICS_TOKEN."""
    app = create_app(ApiSettings(database_url=database_url, metrics_token="scrape-me"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
        yield client
    await app.state.engine.dispose()


async def test_metrics_token_is_enforced(guarded_client: httpx.AsyncClient) -> None:
    """With FOLIO_METRICS_TOKEN set, scrapes need it: 401 without, 200 with."""
    assert (await guarded_client.get("/api/metrics")).status_code == 401
    response = await guarded_client.get(
        "/api/metrics", headers={"Authorization": "Bearer scrape-me"}
    )
    assert response.status_code == 200


async def _cardinality_client(
    tmp_path: Path, **settings: object
) -> tuple[FastAPI, httpx.AsyncClient]:
    url = f"sqlite+aiosqlite:///{tmp_path}/cardinality.db"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    app = create_app(ApiSettings(database_url=url, **settings))
    transport = httpx.ASGITransport(app=app)
    return app, httpx.AsyncClient(transport=transport, base_url="http://folio.test")


def _random_path(rng: random.Random) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_.~%"
    depth = rng.randint(1, 4)
    return "/" + "/".join(
        "".join(rng.choices(alphabet, k=rng.randint(1, 12))) for _ in range(depth)
    )


async def test_random_paths_and_methods_stay_within_bounds(tmp_path: Path) -> None:
    """10,000 random requests make at most 10 series per http_* metric and no overflow."""
    app, client = await _cardinality_client(tmp_path)
    rng = random.Random(1234)  # noqa: S311 - reproducible test data, not cryptography
    async with client:
        for _ in range(10_000):
            response = await client.request(rng.choice(METHODS), _random_path(rng))
            assert response.status_code < 500
        registry = app.state.observability.registry
        for name in HTTP_FAMILIES:
            # one series per method label (9 standard methods + "other"), all <unmatched>
            assert len(registry.families[name].children) <= 10, name
        endpoints = {key[1] for key in registry.families["http_requests"].children}
        assert endpoints <= {UNMATCHED, "/api/projects", "/api/projects/{slug}"}
        overflow = registry.series_overflow.children.values()
        assert not [child.value for child in overflow if child.value]
    await app.state.engine.dispose()


async def test_overflow_counts_exactly_past_the_cap(tmp_path: Path) -> None:
    """At a cap of 10 series, each request of an 11th route overflows once per family."""
    app, client = await _cardinality_client(tmp_path, metrics_max_series=10)
    async with client:
        for method in METHODS:  # 10 method labels x <unmatched>: exactly at the cap
            await client.request(method, "/no/such/route")
        for _ in range(7):
            assert (await client.get("/api/health")).status_code == 200
        registry = app.state.observability.registry
        overflow = {key[0]: child.value for key, child in registry.series_overflow.children.items()}
    # Every capped family has its series from the start, at 0 until it overflows.
    assert {name: value for name, value in overflow.items() if value} == {
        name: 7 for name in HTTP_SAMPLE_NAMES
    }
    assert set(HTTP_SAMPLE_NAMES) < set(overflow)
    assert overflow["db_query_errors_total"] == 0
    samples = await _scrape_overflow(app)
    assert samples == 7
    await app.state.engine.dispose()


async def _scrape_overflow(app: FastAPI) -> float:
    family = app.state.observability.registry.families["http_requests"]
    overflow = family.labels("__overflow__", "__overflow__", "__overflow__")
    return overflow.value
