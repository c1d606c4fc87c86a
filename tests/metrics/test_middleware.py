"""The HTTP middleware counts exactly, labels by route template and never breaks requests."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from folio_metrics import UNMATCHED, HttpMetrics, MetricsMiddleware, MetricsRegistry
from folio_metrics.middleware import MAX_ROUTES
from starlette.requests import ClientDisconnect

from tests.metrics.app import BACKGROUND_PAUSE, STREAM_PAUSE, build_app

N = 3


@pytest.fixture
def registry() -> MetricsRegistry:
    return MetricsRegistry()


@pytest.fixture
async def client(registry: MetricsRegistry) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(registry), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def requests(registry: MetricsRegistry, method: str, endpoint: str, status: int) -> float:
    child = registry.families["http_requests"].children.get((method, endpoint, str(status)))
    return child.value if child is not None else 0


def observations(registry: MetricsRegistry, name: str, method: str, endpoint: str) -> Any:
    return registry.families[name].children[(method, endpoint)]


async def test_counts_are_exact_for_every_kind_of_response(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """After N requests of each kind, each status is counted exactly N times."""
    for _ in range(N):
        assert (await client.get("/ok")).status_code == 200
        assert (await client.post("/items", json={"name": "a"})).status_code == 201
        assert (await client.get("/items/2")).status_code == 404
        assert (await client.get("/nowhere/at/all")).status_code == 404
        assert (await client.post("/items", json={"nom": "a"})).status_code == 422
        assert (await client.get("/boom")).status_code == 500
        assert (await client.get("/stream")).status_code == 200
    expected = [
        ("GET", "/ok", 200),
        ("POST", "/items", 201),
        ("GET", "/items/{item_id}", 404),
        ("GET", UNMATCHED, 404),
        ("POST", "/items", 422),
        ("GET", "/boom", 500),
        ("GET", "/stream", 200),
    ]
    for method, endpoint, status in expected:
        assert requests(registry, method, endpoint, status) == N, (method, endpoint, status)
    total = sum(child.value for child in registry.families["http_requests"].children.values())
    assert total == N * len(expected)
    assert observations(registry, "http_request_duration_seconds", "POST", "/items").count == 2 * N
    for child in registry.families["http_requests_in_progress"].children.values():
        assert child.value == 0


async def test_errors_are_recorded_by_kind(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """Exceptions count by class name; 4xx answers by kind."""
    await client.get("/boom")
    await client.get("/items/2")
    await client.post("/items", json={})
    errors = registry.families["app_errors"].children
    assert errors[("/boom", "RuntimeError")].value == 1
    assert errors[("/items/{item_id}", "not_found")].value == 1
    assert errors[("/items", "validation")].value == 1
    assert len(errors) == 3


async def test_templates_include_prefixes_and_mounts(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """Prefixed routers and mounted sub-apps are labelled with their full template."""
    await client.get("/v1/things/42")
    await client.get("/sub/hello/ada")
    await client.get("/sub/unknown")
    assert requests(registry, "GET", "/v1/things/{thing_id}", 200) == 1
    assert requests(registry, "GET", "/sub/hello/{name}", 200) == 1
    assert requests(registry, "GET", "/sub/{path}", 404) == 1


async def test_unusual_methods_are_other(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """A method outside the standard set is labelled "other"."""
    await client.request("BREW", "/ok")
    assert requests(registry, "other", "/ok", 405) == 1


async def test_streaming_is_timed_to_the_last_chunk(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """A streamed response's duration covers every chunk and its bytes are all counted."""
    response = await client.get("/stream")
    duration = observations(registry, "http_request_duration_seconds", "GET", "/stream")
    assert duration.sum >= 3 * STREAM_PAUSE
    size = observations(registry, "http_response_size_bytes", "GET", "/stream")
    assert size.sum == len(response.content)


async def test_background_tasks_are_not_timed(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """Time stops when the body is sent, before the background task runs."""
    started = time.perf_counter()
    await client.get("/background")
    assert time.perf_counter() - started >= BACKGROUND_PAUSE
    duration = observations(registry, "http_request_duration_seconds", "GET", "/background")
    assert duration.sum < BACKGROUND_PAUSE / 2


async def test_request_and_response_sizes(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """Body bytes are counted as they pass, in both directions."""
    body = b'{"name": "sized"}'
    response = await client.post(
        "/items", content=body, headers={"content-type": "application/json"}
    )
    assert observations(registry, "http_request_size_bytes", "POST", "/items").sum == len(body)
    assert observations(registry, "http_response_size_bytes", "POST", "/items").sum == len(
        response.content
    )


async def test_metrics_endpoint_is_excluded(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """Scrapes of the excluded path leave the http_* metrics alone."""
    await client.get("/metrics")
    assert not registry.families["http_requests"].children


async def test_disconnect_before_the_response_is_499(registry: MetricsRegistry) -> None:
    """A client gone before the response completes is counted as 499, not as an app error."""
    app = build_app(registry)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/wait-for-body",
        "raw_path": b"/wait-for-body",
        "query_string": b"",
        "root_path": "",
        "headers": [],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }
    with pytest.raises(ClientDisconnect):
        await app(scope, receive, send)
    assert requests(registry, "GET", "/wait-for-body", 499) == 1
    assert not registry.families["app_errors"].children


async def test_cancelled_request_is_499(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """A request whose task is cancelled (the server gave up on it) counts as 499."""
    task = asyncio.ensure_future(client.get("/slow"))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert requests(registry, "GET", "/slow", 499) == 1
    assert observations(registry, "http_requests_in_progress", "GET", "/slow").value == 0


async def test_non_http_scopes_pass_through(registry: MetricsRegistry) -> None:
    """Lifespan (and websocket) scopes reach the app untouched and are not counted."""
    app = build_app(registry)
    async with app.router.lifespan_context(app):
        pass
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    replies: list[str] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        replies.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert replies == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert not registry.families["http_requests"].children


async def test_a_failing_hook_never_breaks_the_request(registry: MetricsRegistry) -> None:
    """When the route resolver raises, the request is served and the failure is counted."""

    def broken_resolver(scope: Any) -> str:
        raise RuntimeError("resolver bug")

    app = build_app(registry, resolver=broken_resolver)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/ok")
    assert response.status_code == 200
    assert registry.hook_errors.labels("http_middleware", "exception").value == 1


async def test_traceparent_becomes_an_exemplar(
    registry: MetricsRegistry, client: httpx.AsyncClient
) -> None:
    """A valid traceparent puts its trace id on the request's counter and bucket."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    await client.get("/ok", headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    await client.get("/items/1", headers={"traceparent": "00-not-valid-01"})
    counter = registry.families["http_requests"].children[("GET", "/ok", "200")]
    assert counter.exemplar is not None
    assert counter.exemplar.labels == {"trace_id": trace_id}
    assert (
        registry.families["http_requests"].children[("GET", "/items/{item_id}", "200")].exemplar
        is None
    )


async def test_a_failing_hook_after_the_response_is_counted(registry: MetricsRegistry) -> None:
    """When a hook fails after the app answered, the response is intact and the error counted."""

    class BrokenQueries:
        def start(self) -> object:
            return None

        def finish(self, token: object, endpoint: str) -> None:
            raise RuntimeError("finish bug")

    app = build_app(registry, queries=BrokenQueries())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/ok")
    assert response.json() == {"status": "ok"}
    assert registry.hook_errors.labels("http_middleware", "exception").value == 1
    assert requests(registry, "GET", "/ok", 200) == 1


async def test_an_excluded_path_that_raises_runs_once(registry: MetricsRegistry) -> None:
    """An error from the app on an excluded path propagates once and is not a hook error."""
    calls = 0

    async def failing_app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("app bug")

    middleware = MetricsMiddleware(
        failing_app, HttpMetrics(registry), resolver=lambda scope: "/x", exclude=("/x",)
    )
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": []}
    with pytest.raises(RuntimeError, match="app bug"):
        await middleware(scope, None, None)  # type: ignore[arg-type]
    assert calls == 1
    assert not registry.hook_errors.children


CLIENT_PAUSE = 0.2


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }


async def test_a_slow_upload_is_not_server_time(registry: MetricsRegistry) -> None:
    """Waiting for a body that trickles in is left out of http_request_duration_seconds."""
    chunks = [b'{"name":', b' "slow', b'ly"}']
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not chunks:
            await asyncio.sleep(10)  # a disconnect that never comes
        await asyncio.sleep(CLIENT_PAUSE)
        body = chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    started = time.perf_counter()
    await build_app(registry)(_scope("POST", "/items", headers), receive, send)
    assert time.perf_counter() - started >= 3 * CLIENT_PAUSE
    assert sent[0]["status"] == 201
    duration = observations(registry, "http_request_duration_seconds", "POST", "/items")
    assert duration.count == 1
    assert duration.sum < CLIENT_PAUSE / 2


async def test_a_slow_reader_is_not_server_time(registry: MetricsRegistry) -> None:
    """Time spent blocked sending a streamed chunk to a slow reader is left out too."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("more_body"):
            await asyncio.sleep(CLIENT_PAUSE)  # the socket buffer is full until the reader reads
        sent.append(message)

    started = time.perf_counter()
    await build_app(registry)(_scope("GET", "/stream", []), receive, send)
    elapsed = time.perf_counter() - started
    chunks = sum(1 for m in sent if m["type"] == "http.response.body" and m.get("more_body"))
    assert chunks >= 3
    assert elapsed >= chunks * CLIENT_PAUSE
    duration = observations(registry, "http_request_duration_seconds", "GET", "/stream")
    # The app's own pauses between chunks are server time; the reader's are not.
    assert 3 * STREAM_PAUSE <= duration.sum < 3 * STREAM_PAUSE + CLIENT_PAUSE


def _plain_scope(path: str, method: str = "GET") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [],
        "client": ("127.0.0.1", 5000),
    }


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


@pytest.mark.parametrize(("breaks_at", "counted"), [(0, 500), (1, 499), (2, 499)])
async def test_a_send_that_fails_mid_response_is_a_client_gone(
    registry: MetricsRegistry, breaks_at: int, counted: int
) -> None:
    """A server's send raising OSError once the response started means the connection
    broke: 499. Before any response, an OSError is the app's own error: 500."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if breaks_at == 0:
            raise ConnectionRefusedError("the app's own upstream")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if len(sent) == breaks_at:
            raise ConnectionResetError("peer reset")

    sent: list[dict[str, Any]] = []
    middleware = MetricsMiddleware(app, HttpMetrics(registry), resolver=lambda scope: "/r")
    with pytest.raises(OSError, match=r"upstream|reset"):
        await middleware(_plain_scope("/r"), _no_body, send)
    assert requests(registry, "GET", "/r", counted) == 1
    assert sum(child.value for child in registry.families["http_requests"].children.values()) == 1


async def test_routes_bound_by_the_middleware_stay_few_under_raw_paths(
    registry: MetricsRegistry,
) -> None:
    """A resolver that hands back raw paths cannot grow the middleware's own memory."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: dict[str, Any]) -> None:
        return None

    middleware = MetricsMiddleware(
        app,
        HttpMetrics(registry, max_series=10),
        resolver=lambda scope: scope["path"],
        exclude=[re.compile(r"/p/\d*0")],  # excluded answers are kept too
    )
    for number in range(MAX_ROUTES * 10 + 50):
        await middleware(_plain_scope(f"/p/{number}", method=f"M{number}"), _no_body, send)
    assert len(middleware._routes) <= MAX_ROUTES
    assert {key[0] for key in middleware._routes} <= {"other"}
