"""folio_metrics.instrument(): one call, every option, on Starlette and on plain ASGI."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import folio_metrics
import httpx
import pytest
from folio_metrics import ExtraLabel, MetricsRegistry, create_registry, instrument
from prometheus_client import CollectorRegistry, Counter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route


async def _user(request: Request) -> PlainTextResponse:
    return PlainTextResponse("user")


async def _health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _starlette() -> Starlette:
    return Starlette(routes=[Route("/users/{user_id:int}", _user), Route("/health/live", _health)])


async def _plain_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"made"})


async def _get(app: Any, *paths: str, **headers: str) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [await client.get(path, headers=headers) for path in paths]


async def _scrape(app: Any, path: str = "/metrics", **headers: str) -> str:
    (response,) = await _get(app, path, **headers)
    assert response.status_code == 200, response.text
    return response.text


def _samples(text: str, name: str) -> dict[str, float]:
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            found[labels[len(name) :]] = float(value)
    return found


async def test_starlette_is_instrumented_in_place_and_serves_metrics() -> None:
    app = _starlette()
    assert instrument(app) is app
    await _get(app, "/users/3", "/users/3", "/missing")
    text = await _scrape(app)
    assert _samples(text, "http_requests_total") == {
        '{method="GET",endpoint="/users/{user_id}",status="200"}': 2,
        '{method="GET",endpoint="<unmatched>",status="404"}': 1,
    }
    # The scrape itself is not counted unless asked.
    assert "/metrics" not in text.split("http_requests_total", 1)[1]


async def test_plain_asgi_app_gets_a_wrapper_that_serves_metrics() -> None:
    wrapped = instrument(_plain_asgi)
    assert isinstance(wrapped, folio_metrics.InstrumentedApp)
    responses = await _get(wrapped, "/anything", "/else")
    assert [response.status_code for response in responses] == [201, 201]
    text = await _scrape(wrapped)
    assert _samples(text, "http_requests_total") == {
        '{method="GET",endpoint="<unmatched>",status="201"}': 2
    }


async def test_a_resolver_names_plain_asgi_routes() -> None:
    def resolver(scope: Any) -> str:
        return "/items/{id}" if scope["path"].startswith("/items/") else folio_metrics.UNMATCHED

    wrapped = instrument(_plain_asgi, resolver=resolver)
    await _get(wrapped, "/items/1", "/items/2")
    assert _samples(await _scrape(wrapped), "http_requests_total") == {
        '{method="GET",endpoint="/items/{id}",status="201"}': 2
    }


async def test_namespace_const_labels_and_grouped_statuses() -> None:
    app = instrument(
        _starlette(), namespace="shop", const_labels={"region": "eu"}, group_status=True
    )
    await _get(app, "/users/1", "/users/2", "/missing")
    text = await _scrape(app)
    assert "\nhttp_requests_total" not in text
    assert _samples(text, "shop_http_requests_total") == {
        '{method="GET",endpoint="/users/{user_id}",status="2xx",region="eu"}': 2,
        '{method="GET",endpoint="<unmatched>",status="4xx",region="eu"}': 1,
    }
    assert 'shop_app_errors_total{endpoint="<unmatched>",type="not_found",region="eu"} 1' in text
    assert "shop_http_request_duration_seconds_count{" in text


async def test_buckets_are_set_per_histogram() -> None:
    app = instrument(_starlette(), buckets={"http_request_duration_seconds": [0.5, 1.5]})
    await _get(app, "/users/1")
    text = await _scrape(app)
    bounds = re.findall(r'http_request_duration_seconds_bucket\{.*,le="([^"]+)"\}', text)
    assert bounds == ["0.5", "1.5", "+Inf"]
    assert 'http_request_size_bytes_bucket{method="GET",endpoint="/users/{user_id}",le="64.0"}' in (
        text
    )


def test_buckets_for_an_unknown_histogram_are_refused() -> None:
    with pytest.raises(ValueError, match="not HTTP histograms"):
        instrument(_starlette(), buckets={"http_latency": [1.0]})


async def test_extra_label_is_bounded_to_its_allowed_values() -> None:
    def tenant(scope: Any) -> str:
        return dict(scope["headers"]).get(b"x-tenant", b"").decode()

    label = ExtraLabel("tenant", tenant, frozenset({"acme"}))
    app = instrument(_starlette(), extra_label=label)
    await _get(app, "/users/1", **{"x-tenant": "acme"})
    for index in range(5):
        await _get(app, "/users/1", **{"x-tenant": f"random-{index}"})
    assert _samples(await _scrape(app), "http_requests_total") == {
        '{method="GET",endpoint="/users/{user_id}",status="200",tenant="acme"}': 1,
        '{method="GET",endpoint="/users/{user_id}",status="200",tenant="other"}': 5,
    }


async def test_a_failing_extra_label_hook_never_breaks_the_request() -> None:
    def broken(scope: Any) -> str:
        raise RuntimeError("hook bug")

    app = instrument(_starlette(), extra_label=ExtraLabel("tenant", broken, frozenset()))
    (response,) = await _get(app, "/users/1")
    assert response.status_code == 200
    text = await _scrape(app)
    assert 'folio_metrics_errors_total{hook="extra_label",reason="exception"} 1' in text
    # Still counted, under the label's catch-all value.
    assert _samples(text, "http_requests_total") == {
        '{method="GET",endpoint="/users/{user_id}",status="200",tenant="other"}': 1
    }


def test_a_label_named_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="label names must differ"):
        instrument(_starlette(), const_labels={"status": "x"})
    with pytest.raises(ValueError, match="label names must differ"):
        instrument(_starlette(), extra_label=ExtraLabel("method", str, frozenset()))


def test_options_given_as_a_single_string_are_refused() -> None:
    with pytest.raises(TypeError, match="not the str"):
        instrument(_starlette(), exclude="/health/live")
    with pytest.raises(TypeError, match="not a str"):
        ExtraLabel("tenant", str, "acme")  # type: ignore[arg-type]


def test_contradictory_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token is blank"):
        instrument(_starlette(), token=" ")
    with pytest.raises(ValueError, match="multiprocess_dir"):
        instrument(_starlette(), registry=MetricsRegistry(), multiprocess_dir=tmp_path)


async def test_a_catch_all_mount_does_not_hide_the_metrics() -> None:
    app = Starlette(routes=[Mount("/", app=_plain_asgi)])
    instrument(app)
    await _get(app, "/page")
    assert 'endpoint="/{path}",status="201"' in await _scrape(app)


async def test_the_wrapper_serves_metrics_under_a_root_path() -> None:
    wrapped = instrument(_plain_asgi)
    transport = httpx.ASGITransport(app=wrapped, root_path="/shop")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/shop/metrics")
    assert response.status_code == 200
    assert "http_requests_total" in response.text


async def test_a_failing_prometheus_client_collector_costs_only_itself() -> None:
    class Broken:
        def collect(self) -> list[Any]:
            raise RuntimeError("collector bug")

    source = CollectorRegistry()
    source.register(Broken())  # type: ignore[arg-type]
    app = instrument(_starlette(), prometheus_client=source)
    await _get(app, "/users/1")
    text = await _scrape(app)
    assert 'http_requests_total{method="GET",endpoint="/users/{user_id}",status="200"} 1' in text
    assert 'folio_metrics_errors_total{hook="prometheus_client",reason="exception"} 1' in text


async def test_routes_are_excluded_exactly_or_by_pattern() -> None:
    app = instrument(_starlette(), exclude=[re.compile("/health/.*")])
    await _get(app, "/health/live", "/users/1")
    assert set(_samples(await _scrape(app), "http_requests_total")) == {
        '{method="GET",endpoint="/users/{user_id}",status="200"}'
    }
    app = instrument(_starlette(), exclude=["/users/{user_id}"])
    await _get(app, "/health/live", "/users/1")
    assert set(_samples(await _scrape(app), "http_requests_total")) == {
        '{method="GET",endpoint="/health/live",status="200"}'
    }


async def test_metrics_path_and_token() -> None:
    app = instrument(_starlette(), metrics_path="/internal/metrics", token="s3cret")
    (refused,) = await _get(app, "/internal/metrics")
    assert refused.status_code == 401
    assert "Bearer <token>" in refused.json()["error"]["message"]
    assert "FOLIO" not in refused.text
    text = await _scrape(app, "/internal/metrics", authorization="Bearer s3cret")
    assert "http_requests_total" in text


def test_metrics_path_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        instrument(_starlette(), metrics_path="metrics")


async def test_prometheus_client_metrics_appear_in_the_scrape() -> None:
    source = CollectorRegistry()
    orders = Counter("orders", "Orders placed.", ["kind"], registry=source)
    orders.labels("book").inc(3)
    # One of the registry's own names: served once, from the registry.
    Counter("http_requests", "A clash with the registry's own family.", registry=source).inc()
    app = instrument(_starlette(), prometheus_client=source)
    await _get(app, "/users/1")
    text = await _scrape(app)
    assert 'orders_total{kind="book"} 3.0' in text
    assert text.count("# TYPE http_requests_total counter") == 1
    off = instrument(_starlette(), prometheus_client=False)
    assert "orders_total" not in await _scrape(off)


async def test_runtime_metrics_are_opt_in() -> None:
    plain = instrument(_starlette())
    await _get(plain, "/users/1")
    assert "python_asyncio_event_loop_lag_seconds" not in await _scrape(plain)
    with_runtime = instrument(_starlette(), runtime=True, prometheus_client=False)
    await _get(with_runtime, "/users/1")
    text = await _scrape(with_runtime)
    assert "python_asyncio_event_loop_lag_seconds_count" in text
    assert "python_info{" in text


async def test_families_of_a_registry_passed_in_are_served_too() -> None:
    registry = MetricsRegistry()
    signups = registry.counter("signups_total", "Accounts opened.")
    signups.unlabelled().inc(2)
    app = instrument(_starlette(), registry=registry)
    assert "\nsignups_total 2\n" in await _scrape(app)


def test_workers_share_a_directory_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert create_registry().storage is None
    monkeypatch.setenv(folio_metrics.DIRECTORY_ENV, str(tmp_path))
    shared = create_registry()
    assert shared.storage is not None
    shared.counter("jobs_total", "Jobs run.").unlabelled().inc()
    assert [path for path in tmp_path.iterdir() if not path.name.startswith(".")]


def test_imports_without_posix_locks_and_says_so_when_workers_need_them(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['fcntl'] = None\n"
        "import folio_metrics\n"
        "folio_metrics.create_registry()\n"
        "try:\n"
        f"    folio_metrics.create_registry(multiprocess_dir={str(tmp_path)!r})\n"
        "except RuntimeError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "need POSIX file locks" in result.stdout


async def test_workers_publish_their_scrape_time_values_without_being_scraped(
    tmp_path: Path,
) -> None:
    """Only the scraped worker renders; the others run their hooks on a tick of their own."""
    registry = create_registry(multiprocess_dir=tmp_path)
    ticks = []
    registry.on_collect("count", lambda: ticks.append(1))
    app = instrument(_starlette(), registry=registry)
    await _get(app, "/users/1")
    await asyncio.sleep(1.2)
    assert len(ticks) >= 1
