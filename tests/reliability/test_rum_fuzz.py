"""A fuzz of POST /api/rum: whatever a client sends, folio-web answers 2xx or 4xx, counts the
beacon once under a documented result, and adds no metric series.

folio-web runs in-process (httpx.ASGITransport), so thousands of beacons take seconds. A
reference set first creates every series a beacon may create (each page route and vital,
each asset and error type, each refusal); after that, fuzzed input may only move values.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from folio_metrics import UNMATCHED
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from folio.web.app import create_app
from folio.web.beacons import ASSET_TYPES, ERROR_TYPES, MAX_PAGE_LENGTH, VITALS
from folio.web.rum import MAX_BEACON_BYTES, PAGE_ROUTES, RESULTS
from folio.web.settings import WebSettings
from tests.reliability.fuzz_profiles import fuzz_profile
from tests.reliability.soak import amount

SITE = "http://folio.test"
STATUS_OF = {
    "accepted": 204,
    "rate_limited": 429,
    "bad_origin": 403,
    "unsupported_media_type": 415,
    "too_large": 413,
    "invalid_json": 400,
    "invalid_payload": 400,
}
# One page per route template, and one that is none of them.
PAGES = {"/": "/", "/about": "/about", "/projects": "/projects", "/projects/x": "/projects/{slug}"}
PAGES["/nowhere"] = UNMATCHED
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Site:
    """folio-web in-process, and a client on one event loop for sync (Hypothesis) tests."""

    def __init__(self, settings: WebSettings) -> None:
        self.app: FastAPI = create_app(settings)
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=SITE, timeout=60
        )

    def post(
        self, body: Any, content_type: str | bytes | None = "text/plain", **headers: str
    ) -> tuple[int, str]:
        """POST a beacon; its status, and its result as the answer names it."""
        sent: dict[str, str | bytes] = {"Origin": SITE, **headers}
        if content_type is not None:
            sent["Content-Type"] = content_type
        response = self.loop.run_until_complete(
            self.client.post("/api/rum", content=body, headers=sent)
        )
        if response.status_code == 204:
            return 204, "accepted"
        return response.status_code, response.json()["error"]["code"]

    def dropped(self) -> float:
        """rum_values_dropped_total, read from the registry."""
        family = self.app.state.observability.registry.families["rum_values_dropped"]
        return float(family.children[()].value)

    def vitals_recorded(self, route: str) -> int:
        """How many vitals the web_vitals_* histograms hold for ``route``."""
        families = self.app.state.observability.registry.families
        return sum(
            int(families[name].children[(route,)].count)
            for name in families
            if name.startswith("web_vitals_") and (route,) in families[name].children
        )

    def counted(self) -> tuple[dict[str, float], int]:
        """rum_beacons_total by result, and how many series the registry holds, read directly."""
        families = self.app.state.observability.registry.families
        beacons = {key[0]: child.value for key, child in families["rum_beacons"].children.items()}
        return beacons, sum(len(family.children) for family in families.values())

    def samples(self) -> Samples:
        text = self.loop.run_until_complete(self.client.get("/api/metrics")).text
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.run_until_complete(self.app.state.api.aclose())
        self.loop.close()


def _beacon(page: str = "/", **items: Any) -> bytes:
    return json.dumps({"page": page, **items}).encode()


def _reference(site: Site) -> None:
    """Every series a beacon can create: each route x vital, asset and error type, refusal."""
    vitals = [{"name": name, "value": 1} for name in VITALS]
    resources = [{"type": kind, "duration": 1} for kind in ASSET_TYPES]
    errors = [{"type": kind} for kind in ERROR_TYPES]
    for page in PAGES:
        beacon = _beacon(page, vitals=vitals, resources=resources, errors=errors)
        assert site.post(beacon) == (204, "accepted")
    assert site.post(_beacon(vitals=[{"name": "FID", "value": 1}]))[0] == 204  # one dropped
    assert site.post(b"{}", Origin="http://evil.test")[0] == 403
    assert site.post(b"{}", "image/png")[0] == 415
    assert site.post(b"x" * (MAX_BEACON_BYTES + 1))[0] == 413
    assert site.post(b"{")[0] == 400
    assert site.post(b"[]")[0] == 400


def _beacons(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["result"]: value
        for (name, labels), value in samples.items()
        if name == "rum_beacons_total"
    }


def _went_down(before: Samples, after: Samples) -> list[str]:
    """Counter-like samples that went down: no beacon may make a total smaller."""
    return [
        f"{name}{dict(labels)}: {before[(name, labels)]} -> {value}"
        for (name, labels), value in after.items()
        if name.endswith(("_total", "_count", "_bucket", "_sum"))
        and (name, labels) in before
        and value < before[(name, labels)]
    ]


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """folio-web with limits no test reaches (rate and share of vitals), after the reference set."""
    site = Site(WebSettings(rum_rate_per_minute=10**9, rum_burst=10**9, rum_vitals_per_hour=10**9))
    _reference(site)
    yield site
    site.close()


@dataclass
class Check:
    """Posts beacons, checking each is answered 2xx/4xx and counted once under its result;
    on leaving, checks /api/metrics serves the series it served on entering, no more."""

    site: Site

    def __enter__(self) -> Check:
        self.before = self.site.samples()
        return self

    def __exit__(self, *exc_info: object) -> None:
        after = self.site.samples()
        new = set(after) - set(self.before)
        assert not new, f"new series: {sorted(new, key=str)[:5]}"
        assert not _went_down(self.before, after)
        assert set(_beacons(after)) == set(RESULTS)

    def __call__(
        self, body: Any, content_type: str | bytes | None = "text/plain", **headers: str
    ) -> str:
        beacons, series = self.site.counted()
        status, result = self.site.post(body, content_type, **headers)
        beacons_after, series_after = self.site.counted()
        assert status < 500
        assert STATUS_OF[result] == status, (result, status)
        moved = {
            key: beacons_after[key] - beacons[key]
            for key in beacons
            if beacons_after[key] != beacons[key]
        }
        assert moved == {result: 1}, moved
        assert series_after == series, "a beacon added a series"
        return result


@pytest.fixture
def check(site: Site) -> Iterator[Check]:
    with Check(site) as check:
        yield check


# --- a corpus of nasty inputs -------------------------------------------------------------

NESTED = 10_000


def _vital(value: str, name: str = "LCP") -> bytes:
    return f'{{"page": "/", "vitals": [{{"name": "{name}", "value": {value}}}]}}'.encode()


CORPUS = [
    # numbers: huge, tiny, negative, not numbers at all
    pytest.param(_vital("1e308"), "accepted", 1, id="1e308"),
    pytest.param(_vital("-1e308"), "accepted", 1, id="-1e308"),
    pytest.param(_vital("1e309"), "accepted", 1, id="1e309-overflows-to-inf"),
    pytest.param(_vital("1" + "0" * 400), "accepted", 1, id="10**400"),
    pytest.param(_vital("1" + "0" * 5000), "invalid_json", None, id="10**5000-past-int-limit"),
    pytest.param(_vital("NaN"), "accepted", 1, id="NaN"),
    pytest.param(_vital("Infinity"), "accepted", 1, id="Infinity"),
    pytest.param(_vital("-Infinity"), "accepted", 1, id="-Infinity"),
    pytest.param(_vital("-0.0"), "accepted", 0, id="negative-zero"),
    pytest.param(_vital("-1"), "accepted", 1, id="negative"),
    pytest.param(_vital("120001"), "accepted", 1, id="over-two-minutes"),
    pytest.param(_vital("11", "CLS"), "accepted", 1, id="cls-over-10"),
    pytest.param(_vital("5e-324"), "accepted", 0, id="denormal"),
    pytest.param(_vital("true"), "accepted", 1, id="boolean"),
    pytest.param(_vital('"1200"'), "accepted", 1, id="string-number"),
    pytest.param(_vital("null"), "accepted", 1, id="null"),
    pytest.param(_vital("[1200]"), "accepted", 1, id="list-value"),
    pytest.param(_vital("{}"), "accepted", 1, id="object-value"),
    # vital names that are not the five
    pytest.param(_vital("1", "FID"), "accepted", 1, id="unknown-vital"),
    pytest.param(_vital("1", "lcp"), "accepted", 1, id="lowercase-vital"),
    pytest.param(_vital("1", "LCP\u200b"), "accepted", 1, id="zero-width-in-name"),
    pytest.param(_vital("1", "\uff2c\uff23\uff30"), "accepted", 1, id="fullwidth-LCP"),
    pytest.param(_vital("1", "\\ud800"), "accepted", 1, id="lone-surrogate-name"),
    pytest.param(
        b'{"page": "/", "vitals": [{"name": "LCP", "value": 1, "route": "/x"}]}',
        "accepted",
        1,
        id="extra-key-in-vital",
    ),
    pytest.param(
        b'{"page": "/", "resources": [{"type": "video", "duration": 1}]}',
        "accepted",
        1,
        id="unknown-asset-type",
    ),
    pytest.param(
        b'{"page": "/", "errors": [{"type": "ssr_error"}]}', "accepted", 1, id="forged-ssr-error"
    ),
    # pages that are not route templates: never a label of their own
    pytest.param(_beacon("/projects/{slug}"), "accepted", 0, id="template-as-page"),
    pytest.param(_beacon("/{path}"), "accepted", 0, id="path-template"),
    pytest.param(_beacon("<unmatched>"), "invalid_payload", None, id="sentinel-as-page"),
    pytest.param(_beacon("__overflow__"), "invalid_payload", None, id="overflow-as-page"),
    pytest.param(_beacon("/__overflow__"), "accepted", 0, id="overflow-path"),
    pytest.param(_beacon("//evil.example/x"), "accepted", 0, id="protocol-relative"),
    pytest.param(_beacon("/projects/../about"), "accepted", 0, id="dot-segments"),
    pytest.param(_beacon("/?q=1#frag"), "accepted", 0, id="query-and-fragment"),
    pytest.param(_beacon("/api/rum"), "accepted", 0, id="the-endpoint-itself"),
    pytest.param(_beacon("/static/style.css"), "accepted", 0, id="static-file"),
    pytest.param(_beacon("/" + "a" * (MAX_PAGE_LENGTH - 1)), "accepted", 0, id="longest-page"),
    pytest.param(_beacon("/" + "a" * MAX_PAGE_LENGTH), "invalid_payload", None, id="page-too-long"),
    pytest.param(_beacon("https://folio.test/"), "invalid_payload", None, id="absolute-url"),
    # unicode
    pytest.param(_beacon("/\u202eevil"), "accepted", 0, id="rtl-override"),
    pytest.param(_beacon("/pro\u200bjects"), "accepted", 0, id="zero-width-space"),
    pytest.param(_beacon("/\ufeff"), "accepted", 0, id="bom-in-page"),
    pytest.param(_beacon("/😀/👩‍👩‍👧"), "accepted", 0, id="emoji"),
    pytest.param(b'{"page": "/\\ud800\\udfff\\udc00"}', "accepted", 0, id="escaped-surrogates"),
    pytest.param(b'{"page": "/\\u0000"}', "accepted", 0, id="nul-in-page"),
    pytest.param('{"page": "/é"}'.encode("latin-1"), "invalid_json", None, id="latin-1"),
    pytest.param('{"page": "/"}'.encode("utf-16"), "accepted", 0, id="utf-16"),
    pytest.param(b"\xef\xbb\xbf" + _beacon(), "accepted", 0, id="utf-8-bom"),
    pytest.param(b"\xff\xfe\xfd", "invalid_json", None, id="not-utf-8"),
    # structure
    pytest.param(b"[" * NESTED + b"]" * NESTED, "invalid_json", None, id="nested-arrays"),
    pytest.param(
        b'{"a":' * NESTED + b"1" + b"}" * NESTED, "invalid_json", None, id="nested-objects"
    ),
    pytest.param(
        b'{"page": "/", "vitals": [' + b"[" * NESTED + b"]" * NESTED + b"]}",
        "invalid_json",
        None,
        id="nested-inside-vitals",
    ),
    pytest.param(b"", "invalid_json", None, id="empty"),
    pytest.param(b'{"page": "/", "vitals": [', "invalid_json", None, id="truncated"),
    pytest.param(b"{'page': '/'}", "invalid_json", None, id="single-quotes"),
    pytest.param(b'{"page": "/",}', "invalid_json", None, id="trailing-comma"),
    pytest.param(b'{"page": "/"} {"page": "/"}', "invalid_json", None, id="two-documents"),
    pytest.param(b"[]", "invalid_payload", None, id="array"),
    pytest.param(b'[{"page": "/"}]', "invalid_payload", None, id="beacon-in-array"),
    pytest.param(b'"/"', "invalid_payload", None, id="string"),
    pytest.param(b"null", "invalid_payload", None, id="null"),
    pytest.param(b"1e999", "invalid_payload", None, id="infinite-number"),
    pytest.param(b'{"page": "/", "page": 5}', "invalid_payload", None, id="duplicate-page"),
    pytest.param(b'{"page": 5, "page": "/"}', "accepted", 0, id="duplicate-page-last-wins"),
    pytest.param(b'{"page": "/", "vitals": "LCP"}', "invalid_payload", None, id="vitals-string"),
    pytest.param(_beacon(vitals=[{}] * 51), "invalid_payload", None, id="51-vitals"),
    pytest.param(_beacon(vitals=[{}] * 50), "accepted", 50, id="50-empty-vitals"),
    pytest.param(_beacon(extra=1), "invalid_payload", None, id="unknown-key"),
    pytest.param(b'{"vitals": []}', "invalid_payload", None, id="no-page"),
    pytest.param(b"x" * (MAX_BEACON_BYTES + 1), "too_large", None, id="64KiB+1"),
    pytest.param(b" " * MAX_BEACON_BYTES, "invalid_json", None, id="64KiB-of-spaces"),
    pytest.param(b" " * (MAX_BEACON_BYTES - 13) + b'{"page": "/"}', "accepted", 0, id="64KiB"),
    pytest.param(b"x" * 10_000_000, "too_large", None, id="10MB"),
]


@pytest.mark.parametrize(("body", "result", "dropped"), CORPUS)
def test_nasty_beacons(
    check: Check, site: Site, body: bytes, result: str, dropped: int | None
) -> None:
    """Each nasty input gets its documented result, drops exactly its bad items, adds no series."""
    before = site.dropped()
    assert check(body) == result
    if dropped is not None:
        assert site.dropped() - before == dropped


class Chunked:
    """A body sent with Transfer-Encoding: chunked, so without a Content-Length."""

    def __init__(self, total: int) -> None:
        self.total = total

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for offset in range(0, self.total, 65536):
            yield b"x" * min(65536, self.total - offset)


def test_chunked_10mb_beacon_is_cut_off(check: Check) -> None:
    """A 10 MB beacon without Content-Length is refused as too large as it streams in."""
    assert check(Chunked(10_000_000)) == "too_large"


@pytest.mark.parametrize(
    ("content_type", "result"),
    [
        ("text/plain", "accepted"),
        ("application/json", "accepted"),
        ("TEXT/PLAIN; charset=UTF-8", "accepted"),
        (" application/json ; charset=latin-1", "accepted"),
        ("application/xml", "unsupported_media_type"),
        ("multipart/form-data; boundary=x", "unsupported_media_type"),
        ("application/x-www-form-urlencoded", "unsupported_media_type"),
        ("application/json-seq", "unsupported_media_type"),
        ("text/plain2", "unsupported_media_type"),
        ("text/html", "unsupported_media_type"),
        ("", "unsupported_media_type"),
        (None, "unsupported_media_type"),
        (b"\xe9/\xe9", "unsupported_media_type"),
    ],
)
def test_content_types(check: Check, content_type: str | bytes | None, result: str) -> None:
    """text/plain (sendBeacon's) and application/json are accepted; any other type is a 415."""
    assert check(_beacon(), content_type) == result


@pytest.mark.parametrize(
    "origin", ["http://evil.test", "null", "", "http://folio.test.evil.test", "HTTP://FOLIO.TEST"]
)
def test_foreign_origins(check: Check, origin: str) -> None:
    """A beacon from any other origin is a 403, whatever its body."""
    assert check(_beacon(), Origin=origin) == "bad_origin"


# --- Hypothesis ---------------------------------------------------------------------------

_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from([*VITALS, *ASSET_TYPES, *ERROR_TYPES, *PAGES, *PAGE_ROUTES, UNMATCHED])
)
json_values = st.recursive(
    _leaves,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=12,
)
_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, 1e308, -1e308, 120_000, 120_000.0001, 10, 10.0001, -0.0]),
    _leaves,
)
_vital_items = st.fixed_dictionaries(
    {"name": st.sampled_from(VITALS) | st.text(max_size=8), "value": _numbers}
)
_asset_items = st.fixed_dictionaries(
    {"type": st.sampled_from(ASSET_TYPES) | st.text(max_size=8), "duration": _numbers}
)
_error_items = st.fixed_dictionaries({"type": st.sampled_from(ERROR_TYPES) | st.text(max_size=20)})
_pages = st.one_of(
    st.sampled_from([*PAGES, *PAGE_ROUTES, "/projects/", "/about/", "//x", "/?a=1", "/#x"]),
    st.text().map(lambda text: "/" + text),
)
# Mostly beacons a browser could send, with fuzzed items; the rest anything in any key.
_plausible_beacons = st.fixed_dictionaries(
    {"page": _pages},
    optional={
        "vitals": st.lists(_vital_items | _leaves, max_size=20),
        "resources": st.lists(_asset_items | _leaves, max_size=20),
        "errors": st.lists(_error_items | _leaves, max_size=20),
    },
)
_odd_beacons = st.fixed_dictionaries(
    {},
    optional={
        "page": _pages | st.text() | json_values,
        "vitals": st.lists(_leaves, min_size=48, max_size=52) | json_values,
        "resources": json_values,
        "errors": json_values,
        "extra": json_values,
    },
)
beacons = _plausible_beacons | _odd_beacons


def _encode(value: Any) -> bytes:
    # allow_nan: NaN and Infinity literals, which Python's json reads back.
    return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")


def test_fuzzed_beacons(check: Check) -> None:
    """Any bytes or JSON, beacon-shaped or not, get a 2xx or 4xx, count once and add no series."""

    @given(
        body=st.one_of(
            beacons.map(_encode),
            json_values.map(_encode),
            st.binary(max_size=2_000),
            beacons.map(_encode).flatmap(
                lambda raw: st.integers(0, len(raw)).map(lambda n: raw[:n])
            ),
        ),
        content_type=st.sampled_from(
            ["text/plain", "application/json", "text/plain;charset=utf-8"]
        ),
    )
    @settings(fuzz_profile(), max_examples=amount(400, 20_000))
    def fuzz(body: bytes, content_type: str) -> None:
        results[check(body, content_type)] += 1

    results: Counter[str] = Counter()
    fuzz()
    print(f"\nfuzzed beacons by result: {dict(results)}")
    # The fuzz reaches past the JSON parser and the shape check, not only into them.
    assert {"accepted", "invalid_json", "invalid_payload"} <= set(results)


def test_every_plausible_vital_is_kept(check: Check, site: Site) -> None:
    """Vitals finite and in range are recorded, each name once a beacon; the rest are dropped."""

    @given(
        vitals=st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(VITALS), "value": st.floats() | st.integers()}
            ),
            min_size=1,
            max_size=50,
        ),
        page=st.sampled_from(sorted(PAGES)),
    )
    @settings(fuzz_profile(), max_examples=amount(200, 5_000))
    def fuzz(vitals: list[dict[str, Any]], page: str) -> None:
        recorded, dropped = site.vitals_recorded(PAGES[page]), site.dropped()
        assert check(_encode({"page": page, "vitals": vitals})) == "accepted"
        plausible = {
            vital["name"]
            for vital in vitals
            if not math.isnan(vital["value"])
            and 0 <= vital["value"] <= (10 if vital["name"] == "CLS" else 120_000)
        }
        assert site.vitals_recorded(PAGES[page]) - recorded == len(plausible)
        assert site.dropped() - dropped == len(vitals) - len(plausible)

    fuzz()


# --- the rate limiter ---------------------------------------------------------------------


def test_rate_limiter_answers_429_past_the_burst_and_counts_them() -> None:
    """Past FOLIO_RUM_BURST beacons (refused ones included) a client gets 429s, all counted."""
    site = Site(WebSettings(rum_rate_per_minute=1, rum_burst=5))
    try:
        before = site.samples()
        statuses = [site.post(_beacon(), Origin="http://evil.test")[0] for _ in range(3)]
        statuses += [site.post(_beacon())[0] for _ in range(4)]
        response = site.loop.run_until_complete(
            site.client.post(
                "/api/rum",
                content=_beacon(),
                headers={"Origin": SITE, "Content-Type": "text/plain"},
            )
        )
        after = site.samples()
    finally:
        site.close()
    assert statuses == [403] * 3 + [204] * 2 + [429] * 2
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"

    def moved(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0) - before.get(key, 0)

    assert moved("rum_beacons_total", result="bad_origin") == 3
    assert moved("rum_beacons_total", result="accepted") == 2
    assert moved("rum_beacons_total", result="rate_limited") == 3
    assert moved("http_requests_total", method="POST", endpoint="/api/rum", status="429") == 3
    assert moved("app_errors_total", endpoint="/api/rum", type="too_many_requests") == 3
