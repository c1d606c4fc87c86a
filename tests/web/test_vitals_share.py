"""Each client address has an hourly share of web vitals, so none can tip FolioPoorLCP alone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from folio.web import rum
from folio.web.app import create_app
from folio.web.rum import RateLimiter
from folio.web.settings import WebSettings

SITE = "http://folio.test"
HEADERS = {"Origin": SITE, "Content-Type": "text/plain"}
ROUTE = "/projects/{slug}"
# FolioPoorLCP needs at least this many LCP reports for a route in an hour.
ALERT_MINIMUM = 20
SHARE = 3


def _beacon(lcp_ms: float = 1800, **overrides: object) -> str:
    beacon: dict[str, object] = {
        "page": "/projects/anything",
        "vitals": [{"name": "LCP", "value": lcp_ms}, {"name": "CLS", "value": 0.02}],
        "resources": [{"type": "stylesheet", "duration": 40}],
        "errors": [{"type": "js_error"}],
    }
    beacon.update(overrides)
    return json.dumps(beacon)


class Web:
    """folio-web in-process, and POST /api/rum from any client address."""

    def __init__(self, **settings: Any) -> None:
        # A rate limit no test reaches: the share, not the limiter, is under test.
        settings = {"rum_rate_per_minute": 10**6, "rum_burst": 10**6, **settings}
        self.app: FastAPI = create_app(WebSettings(**settings))

    async def post(self, body: str, address: str = "203.0.113.1", **headers: str) -> int:
        """POST ``body`` from ``address``; the status code."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
            response = await client.post("/api/rum", content=body, headers=HEADERS | headers)
        return response.status_code

    def lcp_count(self, route: str = ROUTE) -> int:
        """web_vitals_lcp_seconds_count for ``route``."""
        children = self.app.state.observability.registry.families["web_vitals_lcp_seconds"].children
        return int(children[(route,)].count) if (route,) in children else 0

    def counts(self) -> dict[str, float]:
        """LCP and CLS observed, items dropped, assets and JS errors recorded, beacons accepted."""
        families = self.app.state.observability.registry.families
        cls = families["web_vitals_cls"].children
        return {
            "lcp": self.lcp_count(),
            "cls": int(cls[(ROUTE,)].count) if (ROUTE,) in cls else 0,
            "dropped": families["rum_values_dropped"].children[()].value,
            "stylesheets": families["static_asset_load_duration_seconds"]
            .children[("stylesheet",)]
            .count,
            "js_errors": families["client_errors"].children[("js_error",)].value,
            "accepted": families["rum_beacons"].children[("accepted",)].value,
        }


@asynccontextmanager
async def _web(**settings: Any) -> AsyncIterator[Web]:
    web = Web(**settings)
    try:
        yield web
    finally:
        await web.app.state.api.aclose()


async def test_past_the_share_vitals_are_dropped_and_the_rest_kept() -> None:
    """Beacon N+1 from one address is accepted, its assets and errors kept, its vitals dropped."""
    async with _web(rum_vitals_per_hour=SHARE) as web:
        for _ in range(SHARE):
            assert await web.post(_beacon()) == 204
        within = web.counts()
        assert within == {
            "lcp": SHARE,
            "cls": SHARE,
            "dropped": 0,
            "stylesheets": SHARE,
            "js_errors": SHARE,
            "accepted": SHARE,
        }
        assert await web.post(_beacon()) == 204
        past = web.counts()
        assert past == within | {
            "dropped": 2,  # its LCP and its CLS
            "stylesheets": SHARE + 1,
            "js_errors": SHARE + 1,
            "accepted": SHARE + 1,
        }


async def test_another_address_still_gets_its_share() -> None:
    """One address using up its share leaves every other address's untouched."""
    async with _web(rum_vitals_per_hour=SHARE) as web:
        for _ in range(SHARE + 2):
            await web.post(_beacon(), "203.0.113.1")
        assert web.lcp_count() == SHARE
        for _ in range(SHARE + 2):
            assert await web.post(_beacon(), "198.51.100.7") == 204
        assert web.lcp_count() == 2 * SHARE


async def test_forwarded_for_is_the_address_only_when_trusted() -> None:
    """A forged X-Forwarded-For gets no fresh share; behind a trusted proxy its last hop does."""
    for trusted, observed in [(False, SHARE), (True, 2 * SHARE)]:
        async with _web(rum_vitals_per_hour=SHARE, trust_forwarded_for=trusted) as web:
            for index in range(2 * SHARE):
                forwarded = f"10.0.0.{index}, 192.0.2.{index % 2}"
                await web.post(_beacon(), "192.0.2.254", **{"X-Forwarded-For": forwarded})
            assert web.lcp_count() == observed, trusted


async def test_beacons_without_vitals_take_nothing_from_the_share() -> None:
    """Error-only beacons are recorded and leave the address's share of vitals whole."""
    async with _web(rum_vitals_per_hour=SHARE) as web:
        for _ in range(10):
            assert await web.post(_beacon(vitals=[])) == 204
        for _ in range(SHARE):
            await web.post(_beacon())
        assert web.counts()["lcp"] == SHARE
        assert web.counts()["js_errors"] == 10 + SHARE


async def test_the_share_refills_over_the_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    """The share refills at FOLIO_RUM_VITALS_PER_HOUR an hour, never past a full bucket."""
    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(rum, "time", SimpleNamespace(monotonic=lambda: clock.now))
    async with _web(rum_vitals_per_hour=SHARE) as web:
        for _ in range(SHARE + 1):
            await web.post(_beacon())
        assert web.lcp_count() == SHARE
        clock.now += 3600 / SHARE - 1  # not quite one beacon's worth
        await web.post(_beacon())
        assert web.lcp_count() == SHARE
        clock.now += 2
        await web.post(_beacon())
        await web.post(_beacon())
        assert web.lcp_count() == SHARE + 1
        clock.now += 10 * 3600  # a long quiet spell still refills only a full share
        for _ in range(SHARE + 2):
            await web.post(_beacon())
        assert web.lcp_count() == 2 * SHARE + 1


@pytest.mark.parametrize("amount", [1, 3, 5, 7, 10, 60])
def test_hourly_bucket_refills_amount_an_hour(amount: int) -> None:
    """RateLimiter.per_hour holds ``amount``, and a whole hour refills all of it exactly."""
    limiter = RateLimiter.per_hour(amount)
    assert [limiter.allow("a", now=0.0) for _ in range(amount + 1)] == [True] * amount + [False]
    assert not limiter.allow("a", now=3600.0 / amount * 0.99)
    assert [limiter.allow("a", now=3600.0) for _ in range(amount + 1)] == [True] * amount + [False]
    assert limiter.allow("b", now=3600.0)


async def test_one_address_cannot_reach_the_alerts_minimum() -> None:
    """30 beacons of LCP = 10 s from one address add at most 2 LCP reports to the route."""
    async with _web() as web:  # the defaults: FOLIO_RUM_VITALS_PER_HOUR=2
        statuses = [await web.post(_beacon(lcp_ms=10_000)) for _ in range(30)]
        assert statuses == [204] * 30
        assert web.lcp_count() <= 2
        # Four worker processes, each with a full bucket and an hour's refill, stay short.
        assert 4 * 2 * web.lcp_count() < ALERT_MINIMUM
        assert web.counts()["dropped"] == 2 * (30 - web.lcp_count())


async def test_a_vital_repeated_in_one_beacon_counts_once() -> None:
    """Fifty LCPs in one beacon are one LCP report, so one beacon cannot outweigh the share."""
    async with _web() as web:
        vitals = [{"name": "LCP", "value": 10_000 + n} for n in range(50)]
        assert await web.post(_beacon(vitals=vitals)) == 204
        assert web.lcp_count() == 1
        assert web.counts()["dropped"] == 49
        families = web.app.state.observability.registry.families
        lcp = families["web_vitals_lcp_seconds"].children[(ROUTE,)]
        assert lcp.sum == pytest.approx(10.049)  # the last one reported
