"""Auth and hostile input that targets it: tokens, timing-safe checks, labels and PromQL.

Everything runs in-process: folio-api is the ``app`` fixture of tests/conftest.py, and
folio-web talks to a recording stand-in for Prometheus where the status page is tested.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from folio.api.app import create_app as create_api
from folio.api.settings import ApiSettings
from folio.web.app import create_app as create_web
from folio.web.beacons import ASSET_TYPES
from folio.web.observability import CLIENT_ERROR_TYPES
from folio.web.rum import PAGE_ROUTES, RESULTS
from folio.web.settings import WebSettings
from folio.web.status_queries import CHARTS
from tests.conftest import TOKEN
from tests.factories import project_payload

SITE = "http://folio.test"
PROMETHEUS = "http://prometheus.test:9090"
METRICS_TOKEN = "metrics-token-0123456789"
EXISTING = "existing-project"
# What a caller without the token might send: nothing, a near miss, other lengths, other
# schemes, and bytes that are not ASCII (a naive str comparison would raise on them).
BAD_CREDENTIALS: list[bytes | None] = [
    None,
    b"Bearer " + TOKEN[:-1].encode() + b"X",  # same length, last character wrong
    b"Bearer " + TOKEN.encode() + b"-and-more",  # longer
    b"Bearer t",  # much shorter
    b"Bearer ",
    b"Basic " + TOKEN.encode(),
    TOKEN.encode(),  # no scheme
    b"Bearer \xff\xfe\xe9t\xc3\xa9",  # not ASCII, not UTF-8
]
Series = set[tuple[str, tuple[tuple[str, str], ...]]]


def _headers(authorization: bytes | None) -> dict[str, bytes]:
    return {} if authorization is None else {"Authorization": authorization}


@pytest.fixture
def compare_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every hmac.compare_digest call, recorded; the real function still decides."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    # The token checks call hmac.compare_digest through the module, so this sees all of them.
    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


@pytest.fixture
async def stored(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    """One project written with the right token: what a refused write must leave unchanged."""
    created = await client.post("/api/projects", json=project_payload(EXISTING), headers=auth)
    assert created.status_code == 201, created.text
    project: dict[str, Any] = created.json()
    return project


async def _everything(client: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    """Every project, drafts included, as the token holder sees them."""
    page = await client.get("/api/projects", params={"limit": 100}, headers=auth)
    items: list[dict[str, Any]] = page.json()["items"]
    return items


WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/api/projects", project_payload("intruder", title="Written without a token")),
    ("PATCH", f"/api/projects/{EXISTING}", {"title": "Defaced", "published": False}),
    ("PUT", f"/api/projects/{EXISTING}", project_payload(EXISTING, title="Replaced")),
    ("DELETE", f"/api/projects/{EXISTING}", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[w[0] for w in WRITES])
async def test_writes_without_the_token_change_nothing(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    stored: dict[str, Any],
    compare_calls: list[tuple[bytes, bytes]],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    """Every write with a missing, wrong or odd token is a clear JSON 4xx and stores nothing."""
    before = await _everything(client, auth)
    assert before == [stored]
    for authorization in BAD_CREDENTIALS:
        response = await client.request(method, path, json=body, headers=_headers(authorization))
        if method == "PUT":  # no such route: refused before any token check
            assert response.status_code == 405, response.text
            assert response.json()["error"]["code"] == "method_not_allowed"
            continue
        assert response.status_code == 401, (authorization, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        assert error["code"] == "unauthorized"
        assert "bearer" in error["message"].lower()
        assert TOKEN not in response.text
    assert await _everything(client, auth) == before
    # And the right token does get through, so the refusals above were about the token.
    if method != "PUT":
        right = await client.request(method, path, json=body, headers=auth)
        assert right.status_code in (200, 201, 204), right.text
    assert compare_calls or method == "PUT"


async def test_the_token_is_compared_in_constant_time(
    client: httpx.AsyncClient, compare_calls: list[tuple[bytes, bytes]]
) -> None:
    """A wrong token, of the same or another length, is checked by hmac.compare_digest."""
    near_miss = TOKEN[:-1] + "X"
    for wrong in (near_miss, TOKEN + "-longer", "t"):
        compare_calls.clear()
        response = await client.post(
            "/api/projects",
            json=project_payload(),
            headers={"Authorization": f"Bearer {wrong}"},
        )
        assert response.status_code == 401, response.text
        assert (wrong.encode(), TOKEN.encode()) in compare_calls


async def test_a_wrong_token_on_a_read_is_refused_not_ignored(
    client: httpx.AsyncClient, auth: dict[str, str], compare_calls: list[tuple[bytes, bytes]]
) -> None:
    """Reads show drafts only to the token; a wrong one is a 401, never a silent public view."""
    draft = project_payload("draft-project", published=False)
    assert (await client.post("/api/projects", json=draft, headers=auth)).status_code == 201
    wrong = {"Authorization": "Bearer not-the-token"}
    for path in ("/api/projects", "/api/projects/draft-project"):
        response = await client.get(path, headers=wrong)
        assert response.status_code == 401, response.text
        assert "draft-project" not in response.text
    assert (b"not-the-token", TOKEN.encode()) in compare_calls


@pytest.fixture
async def guarded(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """folio-api and folio-web built with FOLIO_METRICS_TOKEN set in the environment."""
    monkeypatch.setenv("FOLIO_METRICS_TOKEN", METRICS_TOKEN)
    api = create_api(ApiSettings(database_url=database_url))
    web = create_web(WebSettings(api_url="http://127.0.0.1:1"))
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url=SITE) as api_client,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=SITE) as web_client,
    ):
        yield {"folio-api": api_client, "folio-web": web_client}
    await web.state.api.aclose()
    await api.state.engine.dispose()


async def test_metrics_need_the_metrics_token(
    guarded: dict[str, httpx.AsyncClient], compare_calls: list[tuple[bytes, bytes]]
) -> None:
    """With FOLIO_METRICS_TOKEN, anonymous and wrong scrapes of both services get 401, no data."""
    for service, client in guarded.items():
        for authorization in [*BAD_CREDENTIALS, b"Bearer " + TOKEN.encode()]:
            response = await client.get("/api/metrics", headers=_headers(authorization))
            assert response.status_code == 401, (service, authorization)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["error"]["code"] == "unauthorized"
            assert "http_requests_total" not in response.text
        scrape = await client.get(
            "/api/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert scrape.status_code == 200, service
        assert "# TYPE http_requests_total counter" in scrape.text
    assert (b"t", METRICS_TOKEN.encode()) in compare_calls


@pytest.fixture
async def web_site() -> AsyncIterator[httpx.AsyncClient]:
    """folio-web alone (beacons need no folio-api), with room for many beacons at once."""
    web = create_web(
        WebSettings(api_url="http://127.0.0.1:1", rum_burst=1000, rum_vitals_per_hour=1000)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=SITE) as client:
        yield client
    await web.state.api.aclose()


async def _series(site: httpx.AsyncClient) -> Series:
    text = (await site.get("/api/metrics")).text
    return {
        (sample.name, tuple(sorted(sample.labels.items())))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _beacon(site: httpx.AsyncClient, body: Any, content_type: str = "text/plain") -> int:
    content = body if isinstance(body, str) else json.dumps(body)
    headers = {"Origin": SITE, "Content-Type": content_type}
    response = await site.post("/api/rum", content=content, headers=headers)
    assert response.status_code < 500, response.text
    return response.status_code


INJECTED = 'x",evil="1'
HOSTILE_BEACONS: list[Any] = [
    {"page": "/", "vitals": [{"name": "EVIL", "value": 1}]},
    {"page": "/", "vitals": [{"name": 'LCP",evil="1', "value": 1}]},
    {"page": "/", "vitals": [{"name": "LCP", "value": 1, "route": INJECTED}]},
    {"page": "/", "vitals": [{"name": "LCP", "value": 1, "labels": {"evil": "1"}}]},
    {"page": "/", "resources": [{"type": INJECTED, "duration": 5}]},
    {"page": "/", "resources": [{"type": "script", "duration": 5, "evil": "1"}]},
    {"page": "/", "errors": [{"type": INJECTED}, {"type": "js_error", "message": "evil"}]},
    {"page": "/", "route": INJECTED, "vitals": []},
    {"page": "/", "evil": "1"},
    {"page": f'/route="{INJECTED}"', "vitals": [{"name": "LCP", "value": 1}]},
    {"page": f"/projects/{INJECTED}", "vitals": [{"name": "TTFB", "value": 1}]},
    {"page": "/about\n# HELP evil injected\nevil 1", "vitals": [{"name": "FCP", "value": 1}]},
    {"page": "/" + "é🙂\u202e" * 600, "vitals": [{"name": "CLS", "value": 0.1}]},
    {"page": "/" + "a" * 3000, "vitals": [{"name": "LCP", "value": 1}]},
    {"page": "/" + "a" * 100_000, "vitals": [{"name": "LCP", "value": 1}]},
    {"page": "/", "vitals": [{"name": "INP", "value": 1e308}, {"name": "LCP", "value": -1}]},
    '{"page": "/", "vitals": [{"name": "LCP", "value": NaN}]}',
    {"page": "/", "vitals": [{"name": "LCP", "value": "1,evil=1"}]},
]


async def test_beacons_cannot_add_series_or_label_values(web_site: httpx.AsyncClient) -> None:
    """Unknown names, extra fields and label-like or huge page values add no series at all."""
    # Warm-up: a beacon with everything valid for every page route and an unmatched page,
    # one refused and one too large, so every series a hostile beacon may touch exists.
    everything = {
        "vitals": [{"name": name, "value": 0.1} for name in ("LCP", "INP", "CLS", "FCP", "TTFB")],
        "resources": [{"type": kind, "duration": 5} for kind in ASSET_TYPES],
        "errors": [{"type": kind} for kind in ("js_error", "unhandled_rejection")],
    }
    for page in ("/", "/about", "/projects", "/projects/warm-up", "/nowhere"):
        assert await _beacon(web_site, {"page": page, **everything}) == 204
    assert await _beacon(web_site, {"page": "/", "evil": "1"}) == 400
    assert await _beacon(web_site, {"page": "/" + "a" * 70_000}) == 413
    assert await _beacon(web_site, {"page": "/"}, "application/json") == 204
    before = await _series(web_site)

    statuses = [await _beacon(web_site, body) for body in HOSTILE_BEACONS]
    statuses += [await _beacon(web_site, HOSTILE_BEACONS[0], "application/json")]
    after = await _series(web_site)

    # Trimmed (204), refused (400) or too large to read (413); never a 500.
    assert set(statuses) == {204, 400, 413}
    assert after == before, sorted(after - before)
    exposition = (await web_site.get("/api/metrics")).text
    assert "evil" not in exposition
    assert "🙂" not in exposition
    bounded = {
        "route": {*PAGE_ROUTES, "<unmatched>"},
        "result": set(RESULTS),
        "type": {*ASSET_TYPES, *CLIENT_ERROR_TYPES},
    }
    rum_families = ("web_vitals_", "static_asset_", "rum_", "client_errors_")
    for name, labels in after:
        if name.startswith(rum_families):
            for label, value in labels:
                if label in bounded:
                    assert value in bounded[label], (name, label, value)
    dropped = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "rum_values_dropped_total"
    ]
    assert len(dropped) == 1
    assert dropped[0] >= 10  # the hostile items were read, and thrown away


class RecordingPrometheus(httpx.AsyncBaseTransport):
    """Answers every query with an empty matrix, and remembers what was asked."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
        return httpx.Response(200, json=body)


@pytest.fixture
async def status_site() -> AsyncIterator[tuple[httpx.AsyncClient, RecordingPrometheus]]:
    prometheus = RecordingPrometheus()
    settings = WebSettings(api_url="http://127.0.0.1:1", prometheus_url=PROMETHEUS)
    web = create_web(settings, prometheus_transport=prometheus)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=SITE) as client:
        yield client, prometheus
    await web.state.api.aclose()
    await web.state.prometheus.aclose()


PROMQL = 'sum(rate(http_requests_total{job=~".+"}[5m])) or vector(1)'
REFUSED_CHART_REQUESTS: list[tuple[str, str, dict[str, str], int]] = [
    ("GET", "/status/data/request_rate", {"query": PROMQL}, 400),
    ("GET", "/status/data/request_rate", {"expr": PROMQL}, 400),
    ("GET", "/status/data/request_rate", {"range": "15m", "query": PROMQL}, 400),
    ("GET", "/status/data/request_rate", {"range": "15m", "step": "1"}, 400),
    ("GET", "/status/data/request_rate", {"range": "1y"}, 400),
    ("GET", "/status/data/request_rate", {"range": PROMQL}, 400),
    ("GET", "/status/data/request_rate?range=15m&range=6h", {}, 400),
    ("GET", "/status/data/up", {}, 404),
    ("GET", "/status/data/" + httpx.URL(PROMQL).raw_path.decode(), {}, 404),
    ("GET", '/status/data/request_rate{job="x"}', {}, 404),
    ("GET", "/status/data/", {}, 404),
    ("GET", "/api/v1/query", {"query": PROMQL}, 404),
    ("POST", "/status/data/request_rate", {"query": PROMQL}, 405),
]


async def test_status_data_runs_only_its_own_queries(
    status_site: tuple[httpx.AsyncClient, RecordingPrometheus],
) -> None:
    """Unknown charts, ranges or parameters (query=, expr=) are refused; none reach Prometheus."""
    site, prometheus = status_site
    for method, path, params, status in REFUSED_CHART_REQUESTS:
        response = await site.request(method, path, params=params or None)
        assert response.status_code == status, (path, params, response.text)
        if response.headers["content-type"] == "application/json":
            assert response.json()["error"]["code"] in ("bad_request", "not_found")
    page = await site.get("/status", params={"query": PROMQL})
    assert page.status_code == 200
    assert PROMQL not in page.text
    # The page's only request of its own: the fixed list of active alerts.
    assert [str(request.url) for request in prometheus.requests] == [f"{PROMETHEUS}/api/v1/alerts"]
    prometheus.requests.clear()

    # The control: a chart that is asked for properly does reach Prometheus, with its own
    # fixed PromQL, so the empty list above means "refused", not "never recorded".
    fixed = {query.promql for chart in CHARTS.values() for query in chart.queries}
    for name in CHARTS:
        assert (await site.get(f"/status/data/{name}", params={"range": "1h"})).status_code == 200
    sent = [request.url.params["query"] for request in prometheus.requests]
    assert set(sent) == fixed
    assert all(request.url.path == "/api/v1/query_range" for request in prometheus.requests)
