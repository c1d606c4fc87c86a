"""Browser beacons: strict validation, and no input of any kind adds a series or a 500."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from folio_metrics import UNMATCHED
from folio_metrics.http import ERROR_KINDS
from hypothesis import given, settings
from hypothesis import strategies as st

from folio.web.app import create_app
from folio.web.beacons import ASSET_TYPES, InvalidBeacon, parse_beacon
from folio.web.observability import CLIENT_ERROR_TYPES
from folio.web.rum import PAGE_ROUTES, RESULTS
from folio.web.settings import WebSettings

SITE = "http://folio.test"
HEADERS = {"Origin": SITE, "Content-Type": "text/plain"}


def _beacon(**overrides: object) -> dict[str, object]:
    beacon: dict[str, object] = {
        "page": "/projects/anything",
        "vitals": [{"name": "LCP", "value": 1800}, {"name": "CLS", "value": 0.02}],
        "resources": [{"type": "stylesheet", "duration": 40}],
        "errors": [{"type": "js_error"}],
    }
    beacon.update(overrides)
    return beacon


def test_valid_beacon_converts_milliseconds_to_seconds() -> None:
    """Timing vitals arrive in ms and are stored in seconds; CLS has no unit."""
    beacon = parse_beacon(_beacon())
    assert beacon.vitals == [("LCP", 1.8), ("CLS", 0.02)]
    assert beacon.assets == [("stylesheet", 0.04)]
    assert beacon.errors == ["js_error"]
    assert beacon.dropped == 0


@pytest.mark.parametrize(
    "value", [-1, float("nan"), float("inf"), 10**400, 200_000, True, "12", None]
)
def test_implausible_values_are_dropped(value: object) -> None:
    """Negatives, NaN, infinities, absurd, boolean and non-numeric values are dropped."""
    beacon = parse_beacon(_beacon(vitals=[{"name": "INP", "value": value}]))
    assert beacon.vitals == []
    assert beacon.dropped == 1


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "x",
        {"vitals": []},
        {"page": 5},
        {"page": "no-slash"},
        {"page": "/", "extra": 1},
        {"page": "/", "vitals": [{}] * 51},
        {"page": "/", "errors": "many"},
    ],
)
def test_wrong_shapes_are_refused_whole(payload: object) -> None:
    """A beacon of the wrong shape raises InvalidBeacon."""
    with pytest.raises(InvalidBeacon):
        parse_beacon(payload)


def test_unknown_names_and_types_are_dropped() -> None:
    """Only the fixed vital names, asset types and error types survive."""
    beacon = parse_beacon(
        _beacon(
            vitals=[{"name": "FID", "value": 5}, {"name": "LCP", "value": 5, "x": 1}],
            resources=[{"type": "video", "duration": 5}],
            errors=[{"type": "sql_injection"}],
        )
    )
    assert (beacon.vitals, beacon.assets, beacon.errors, beacon.dropped) == ([], [], [], 4)


@pytest.fixture
async def rum() -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """folio-web alone (beacons need no API), with a small rate limit."""
    app = create_app(WebSettings(rum_rate_per_minute=60, rum_burst=5))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
        yield app, client
    await app.state.api.aclose()


def _results(app: FastAPI) -> dict[str, float]:
    family = app.state.observability.registry.families["rum_beacons"]
    return {key[0]: child.value for key, child in family.children.items() if child.value}


async def test_accepted_beacon_feeds_the_histograms(rum: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """A good beacon is 204 and lands under the page's route template."""
    app, client = rum
    response = await client.post("/api/rum", content=json.dumps(_beacon()), headers=HEADERS)
    assert response.status_code == 204
    families = app.state.observability.registry.families
    assert families["web_vitals_lcp_seconds"].children[("/projects/{slug}",)].count == 1
    assert families["client_errors"].children[("js_error",)].value == 1
    assert _results(app) == {"accepted": 1}


async def test_unknown_pages_share_one_sentinel(rum: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """Pages that are not site routes all count under <unmatched>, never their own path."""
    app, client = rum
    for page in ["/wp-admin", "/static/style.css", "/a/b/c"]:
        await client.post("/api/rum", content=json.dumps(_beacon(page=page)), headers=HEADERS)
    keys = set(app.state.observability.registry.families["web_vitals_lcp_seconds"].children)
    assert keys == {("<unmatched>",)}


@pytest.mark.parametrize(
    ("headers", "body", "status", "result"),
    [
        ({"Origin": "http://evil.test", "Content-Type": "text/plain"}, b"{}", 403, "bad_origin"),
        ({"Content-Type": "text/plain"}, b"{}", 403, "bad_origin"),
        ({"Origin": SITE, "Content-Type": "image/png"}, b"{}", 415, "unsupported_media_type"),
        (HEADERS, b"x" * (64 * 1024 + 1), 413, "too_large"),
        (HEADERS, b"{not json", 400, "invalid_json"),
        (HEADERS, b"[" * 50_000, 400, "invalid_json"),
        (HEADERS, b'{"page": 1}', 400, "invalid_payload"),
    ],
)
async def test_rejections_are_4xx_and_counted(
    rum: tuple[FastAPI, httpx.AsyncClient],
    headers: dict[str, str],
    body: bytes,
    status: int,
    result: str,
) -> None:
    """Each kind of bad beacon gets its 4xx and its own rum_beacons_total result."""
    app, client = rum
    response = await client.post("/api/rum", content=body, headers=headers)
    assert response.status_code == status
    assert _results(app) == {result: 1}


async def test_rate_limit_is_per_client(rum: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """Past the burst a client gets 429; X-Forwarded-For is not trusted by default."""
    app, client = rum
    statuses = []
    for index in range(8):
        headers = {**HEADERS, "X-Forwarded-For": f"10.0.0.{index}"}
        response = await client.post("/api/rum", content=json.dumps(_beacon()), headers=headers)
        statuses.append(response.status_code)
    assert statuses == [204] * 5 + [429] * 3
    assert _results(app) == {"accepted": 5, "rate_limited": 3}


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
beacon_like = st.fixed_dictionaries(
    {"page": st.text(max_size=30) | st.sampled_from(["/", "/projects/x", "/about"])},
    optional={
        "vitals": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["LCP", "CLS", "INP", "bogus"]), "value": json_values}
            ),
            max_size=5,
        ),
        "resources": st.lists(st.dictionaries(st.text(max_size=8), json_values), max_size=5),
        "errors": st.lists(st.fixed_dictionaries({"type": st.text(max_size=20)}), max_size=5),
    },
)
ALLOWED_LABEL_VALUES = {
    "route": {*PAGE_ROUTES, UNMATCHED},
    # asset types, browser error types, and app_errors_total's kinds for 4xx answers
    "type": {*ASSET_TYPES, *CLIENT_ERROR_TYPES, *ERROR_KINDS.values(), "client_error"},
    "result": set(RESULTS),
    "endpoint": {"/api/rum"},
    "method": {"POST"},
    "status": {"204", "400", "403", "413", "415", "429"},
}


def _label_values(app: FastAPI) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for family in app.state.observability.registry.families.values():
        for key in family.children:
            for name, value in zip(family.label_names, key, strict=True):
                seen.setdefault(name, set()).add(value)
    return seen


def _post(app: FastAPI, payload: object) -> int:
    async def send() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
            body = json.dumps(payload)
            return (await client.post("/api/rum", content=body, headers=HEADERS)).status_code

    return asyncio.run(send())


@settings(max_examples=100, deadline=None)
@given(payloads=st.lists(st.one_of(json_values, beacon_like), min_size=1, max_size=5))
def test_any_json_gets_2xx_or_4xx_and_no_new_label_values(payloads: list[object]) -> None:
    """Whatever JSON arrives, the answer is 2xx or 4xx and every label value is a known one."""
    app = create_app(WebSettings(rum_burst=1000))
    for payload in payloads:
        assert 200 <= _post(app, payload) < 500
    for label, values in _label_values(app).items():
        if label in ALLOWED_LABEL_VALUES:
            assert values <= ALLOWED_LABEL_VALUES[label], (label, values)


async def test_trailing_slash_is_the_same_page(rum: tuple[FastAPI, httpx.AsyncClient]) -> None:
    """/projects/ counts under /projects, as the site redirects it there."""
    app, client = rum
    await client.post("/api/rum", content=json.dumps(_beacon(page="/projects/")), headers=HEADERS)
    keys = set(app.state.observability.registry.families["web_vitals_lcp_seconds"].children)
    assert keys == {("/projects",)}


async def test_forwarded_origin_is_trusted_only_when_configured() -> None:
    """Behind a trusted TLS proxy the origin comes from X-Forwarded-Proto and -Host."""
    forwarded = {
        "Origin": "https://folio.example",
        "Content-Type": "text/plain",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "folio.example",
    }
    for trusted, status in [(False, 403), (True, 204)]:
        app = create_app(WebSettings(trust_forwarded_for=trusted))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
            response = await client.post(
                "/api/rum", content=json.dumps(_beacon()), headers=forwarded
            )
        assert response.status_code == status, trusted
