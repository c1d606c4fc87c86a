"""/status and /status/data/{chart} in-process: switch-off, token, errors, fixed queries.

Nothing here pretends to be Prometheus. Where a test must see what folio-web would send,
a transport records the request and then refuses the connection, as a closed port does;
charts drawn from a real Prometheus are tested in tests/integration/test_status_page.py.
"""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError

from folio.web.app import create_app
from folio.web.settings import WebSettings
from folio.web.status_queries import CHARTS, RANGES
from tests.deploy.histogram_forms import one_sided
from tests.web.conftest import Site

PROMETHEUS = "http://prometheus.test:9090"
TOKEN = "status-token-0123"


class RefusingTransport(httpx.AsyncBaseTransport):
    """Records every request folio-web sends to Prometheus, then refuses the connection."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        raise httpx.ConnectError("connection refused", request=request)


def _error(response: httpx.Response, status: int, code: str) -> str:
    """Check a JSON error answer and return its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert "Traceback" not in response.text
    message: str = error["message"]
    return message


class _Tags(HTMLParser):
    """Collects script and stylesheet URLs, and any inline script or style, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        source = attributes.get("src") or ""
        inline_script = tag == "script" and not source
        if inline_script or tag == "style" or "style" in attributes:
            self.inline.append(self.get_starttag_text() or tag)
        if tag == "script" and source:
            self.scripts.append(source)
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes.get("href") or "")


def _tags(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


async def test_switched_off_status_routes_do_not_exist(make_site: Site) -> None:
    """FOLIO_STATUS_PAGE=false: /status and its data endpoint are 404, and nothing is sent."""
    refusing = RefusingTransport()
    async with make_site(refusing, status_page=False, prometheus_url=PROMETHEUS) as site:
        assert (await site.get("/status")).status_code == 404
        assert (await site.get("/status/data/request_rate")).status_code == 404
    assert refusing.requests == []


async def test_not_configured_page_says_so(make_site: Site) -> None:
    """Without FOLIO_PROMETHEUS_URL the page is 200 and says how to set it; the data is 503."""
    async with make_site() as site:
        page = await site.get("/status")
        assert page.status_code == 200
        assert "Prometheus is not configured" in page.text
        assert "FOLIO_PROMETHEUS_URL" in page.text
        assert 'data-chart="' not in page.text
        assert not any("status.js" in src for src in _tags(page.text).scripts)
        for name in CHARTS:
            message = _error(
                await site.get(f"/status/data/{name}"), 503, "prometheus_not_configured"
            )
            assert "FOLIO_PROMETHEUS_URL" in message


async def test_page_is_an_operator_page_without_inline_code(make_site: Site) -> None:
    """/status loads uPlot and status.js by versioned URL, no RUM script, nothing inline."""
    async with make_site(RefusingTransport(), prometheus_url=PROMETHEUS) as site:
        page = await site.get("/status")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    tags = _tags(page.text)
    assert tags.inline == []
    assert sorted(src.split("?v=")[0] for src in tags.scripts) == [
        "/static/status.js",
        "/static/vendor/uPlot.iife.min.js",
    ]
    assert all("?v=" in url for url in tags.scripts + tags.stylesheets)
    assert any("uPlot.min.css" in href for href in tags.stylesheets)
    for name in CHARTS:
        assert f'data-chart="{name}"' in page.text


async def test_token_is_required_when_set(make_site: Site) -> None:
    """With FOLIO_STATUS_TOKEN, a missing or wrong token is 401; the right one gets in."""
    async with make_site(status_token=SecretStr(TOKEN)) as site:
        wrong = {"Authorization": "Bearer not-the-token"}
        right = {"Authorization": f"Bearer {TOKEN}"}
        for response in (
            await site.get("/status"),
            await site.get("/status", headers=wrong),
            await site.get("/status", params={"token": "not-the-token"}),
        ):
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert "FOLIO_STATUS_TOKEN" in response.text
            assert "not configured" not in response.text
            assert 'data-chart="' not in response.text
        assert (await site.get("/status", headers=right)).status_code == 200
        assert (await site.get("/status", params={"token": TOKEN})).status_code == 200

        data = "/status/data/request_rate"
        assert "FOLIO_STATUS_TOKEN" in _error(await site.get(data), 401, "unauthorized")
        _error(await site.get(data, headers=wrong), 401, "unauthorized")
        # ?token= is for a person opening the page; status.js sends the header.
        _error(await site.get(data, params={"token": TOKEN}), 401, "unauthorized")
        # Past the token check: no Prometheus is configured here.
        _error(await site.get(data, headers=right), 503, "prometheus_not_configured")


async def test_unknown_chart_is_404_and_sends_nothing(make_site: Site) -> None:
    """A chart name that is not in the fixed set is a 404 naming the real ones; no query runs."""
    refusing = RefusingTransport()
    async with make_site(refusing, prometheus_url=PROMETHEUS) as site:
        for name in ("up", "request_rate%20or%20up", "rate(up%5B1m%5D)", "x" * 500):
            message = _error(await site.get(f"/status/data/{name}"), 404, "not_found")
            assert all(chart in message for chart in CHARTS)
            assert len(message) < 300
        # A slash makes it another path altogether: the site's plain 404 page.
        assert (await site.get("/status/data/..%2Fapi%2Fv1%2Fquery")).status_code == 404
    assert refusing.requests == []


async def test_query_parameters_cannot_change_the_promql(make_site: Site) -> None:
    """Only range=15m|1h|6h is taken, and it sets start, end and step, never the query."""
    refusing = RefusingTransport()
    async with make_site(refusing, prometheus_url=PROMETHEUS) as site:
        for params in (
            {"query": "up"},
            {"range": "1h", "step": "1"},
            {"range": "up"},
            {"range": "5m"},
            {"range": ["1h", "6h"]},
        ):
            response = await site.get("/status/data/request_rate", params=params)
            assert "range=15m|1h|6h" in _error(response, 400, "bad_request")
        assert refusing.requests == []

        for range_name, span in RANGES.items():
            refusing.requests.clear()
            response = await site.get("/status/data/web_vitals", params={"range": range_name})
            _error(response, 503, "prometheus_unavailable")
            sent = [request.url.params for request in refusing.requests]
            assert sorted(p["query"] for p in sent) == sorted(
                q.promql for q in CHARTS["web_vitals"].queries
            )
            for p in sent:
                assert int(p["end"]) - int(p["start"]) == span.seconds
                assert int(p["step"]) == span.step
                assert set(p) == {"query", "start", "end", "step", "timeout"}


async def test_unreachable_prometheus_is_a_clear_503(make_site: Site) -> None:
    """Prometheus on a closed port: every chart answers 503 JSON saying so, never a 500."""
    async with make_site(prometheus_url="http://127.0.0.1:1") as site:
        assert (await site.get("/status")).status_code == 200
        for name in CHARTS:
            message = _error(await site.get(f"/status/data/{name}"), 503, "prometheus_unavailable")
            assert "Prometheus is unreachable" in message
            assert "127.0.0.1" not in message


async def test_a_server_that_is_not_prometheus_is_a_clear_502(make_site: Site) -> None:
    """FOLIO_PROMETHEUS_URL pointing at another service (here a folio-web) gives 502 JSON."""
    other = create_app(WebSettings())
    async with (
        other.router.lifespan_context(other),
        make_site(httpx.ASGITransport(app=other), prometheus_url=PROMETHEUS) as site,
    ):
        response = await site.get("/status/data/latency_p95")
        message = _error(response, 502, "prometheus_unavailable")
        # folio-web answers /api/v1/query_range with its own JSON 404, not Prometheus's shape.
        assert "refused the query" in message
        assert "Not Found: GET /api/v1/query_range" in message


async def test_status_is_not_a_page_view_and_adds_no_series(make_site: Site) -> None:
    """/status counts in http_requests_total by route template only, never in page_views_total."""
    async with make_site(prometheus_url="http://127.0.0.1:1") as site:
        await site.get("/status")
        for name in ("request_rate", "nope", "other-nope", "third"):
            await site.get(f"/status/data/{name}")
        text = (await site.get("/api/metrics")).text
    samples = [
        sample for family in text_string_to_metric_families(text) for sample in family.samples
    ]
    routes = {s.labels["route"] for s in samples if s.name == "page_views_total"}
    assert "/status" not in routes
    endpoints: dict[str, float] = {}
    for s in samples:
        if s.name == "http_requests_total" and s.labels["endpoint"].startswith("/status"):
            endpoints[s.labels["endpoint"]] = endpoints.get(s.labels["endpoint"], 0) + s.value
    assert endpoints == {"/status": 1, "/status/data/{chart}": 4}


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("http://127.0.0.1:9090/", "http://127.0.0.1:9090"),
        ("https://prom.example/prefix/", "https://prom.example/prefix"),
        ("", None),
    ],
)
def test_prometheus_url_setting(given: str, stored: str | None) -> None:
    """FOLIO_PROMETHEUS_URL loses its trailing slash, and a blank one means not configured."""
    assert WebSettings(prometheus_url=given).prometheus_url == stored


def test_prometheus_url_must_be_http() -> None:
    """A FOLIO_PROMETHEUS_URL that is not http(s) is refused at start-up."""
    with pytest.raises(ValidationError, match="FOLIO_PROMETHEUS_URL"):
        WebSettings(prometheus_url="127.0.0.1:9090")


def test_blank_status_token_means_open() -> None:
    """A blank FOLIO_STATUS_TOKEN is no token, not one that an empty Bearer would match."""
    assert WebSettings(status_token=SecretStr("  ")).status_token is None


def test_charts_read_native_histograms_in_both_forms() -> None:
    """Each chart on a native family reads the native series, else the classic buckets."""
    exprs = [query.promql for chart in CHARTS.values() for query in chart.queries]
    assert one_sided(exprs) == []
