"""Browser beacons for POST /api/rum: their metrics, rate limits, size cap and origin check."""

from __future__ import annotations

import time

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from folio_metrics import (
    UNMATCHED,
    CounterFamily,
    MetricsRegistry,
    NativeBuckets,
    StarletteRouteResolver,
    resolve_path,
)

from folio.json_errors import error_body
from folio.web.beacons import ASSET_TYPES, VITALS, Beacon
from folio.web.observability import WebObservability
from folio.web.settings import WebSettings

MAX_BEACON_BYTES = 64 * 1024
MAX_TRACKED_CLIENTS = 10_000
RESULTS = (
    "accepted",
    "rate_limited",
    "bad_origin",
    "unsupported_media_type",
    "too_large",
    "invalid_json",
    "invalid_payload",
)
# Bucket edges sit on web-vitals' good and poor thresholds, so "share of good" is a ratio.
VITAL_BUCKETS = {
    "LCP": (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 10.0, 20.0),
    "INP": (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0),
    "CLS": (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0),
    "FCP": (0.5, 1.0, 1.8, 2.5, 3.0, 4.0, 6.0, 10.0),
    "TTFB": (0.1, 0.2, 0.4, 0.8, 1.2, 1.8, 3.0, 6.0),
}
ASSET_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
PAGE_ROUTES = frozenset({"/", "/about", "/projects", "/projects/{slug}"})


class RateLimiter:
    """A token bucket per client: ``burst`` at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    @classmethod
    def per_hour(cls, amount: int) -> RateLimiter:
        """A bucket per client that holds ``amount`` and refills at ``amount`` an hour."""
        limiter = cls(amount / 60.0, amount)
        # amount / 60 / 60 can round down so that a whole hour refills a hair under amount.
        limiter.rate = amount / 3600.0
        return limiter

    def allow(self, client: str, now: float | None = None) -> bool:
        """Take a token from ``client``'s bucket if it has one; ``now`` is for tests."""
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if len(self._buckets) >= MAX_TRACKED_CLIENTS:
            del self._buckets[next(iter(self._buckets))]  # forget the least recently seen
        allowed = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if allowed else tokens, now)
        return allowed


class RumMetrics:
    """The web_vitals_*, static asset and beacon families, all label values fixed."""

    def __init__(self, registry: MetricsRegistry, client_errors: CounterFamily) -> None:
        routes = len(PAGE_ROUTES) + 1
        self.vitals = {
            name: registry.histogram(
                f"web_vitals_{name.lower()}" + ("" if name == "CLS" else "_seconds"),
                f"{name} reported by browsers, by page route template.",
                ("route",),
                buckets=VITAL_BUCKETS[name],
                max_series=routes,
                native=NativeBuckets(),
            )
            for name in VITALS
        }
        self.assets = registry.histogram(
            "static_asset_load_duration_seconds",
            "Load time of same-origin static assets, from the browser's Resource Timing.",
            ("type",),
            buckets=ASSET_BUCKETS,
            max_series=len(ASSET_TYPES),
        )
        self.beacons = registry.counter(
            "rum_beacons_total",
            "Browser beacons received, by result.",
            ("result",),
            max_series=len(RESULTS),
        )
        self.dropped = registry.counter(
            "rum_values_dropped_total",
            "Beacon items dropped as unknown, implausible, or past the sending address's "
            "hourly share of web vitals.",
        ).unlabelled()
        self.client_errors = client_errors
        for result in RESULTS:
            self.beacons.labels(result)

    def record(self, route: str, beacon: Beacon, *, observe_vitals: bool = True) -> None:
        """Observe an accepted beacon; its vitals only when ``observe_vitals``, else drop them."""
        # rum.js sends each vital once per beacon; repeats would let one beacon outweigh
        # the per-address share, so only the last value of each name counts.
        vitals = dict(beacon.vitals)
        dropped = beacon.dropped + len(beacon.vitals) - len(vitals)
        if observe_vitals:
            for name, value in vitals.items():
                self.vitals[name].labels(route).observe(value)
        else:
            dropped += len(vitals)
        for asset_type, seconds in beacon.assets:
            self.assets.labels(asset_type).observe(seconds)
        for error_type in beacon.errors:
            self.client_errors.labels(error_type).inc()
        if dropped:
            self.dropped.inc(dropped)


class BeaconIntake:
    """What POST /api/rum keeps from one beacon to the next: its metrics and rate limits."""

    def __init__(self, settings: WebSettings, observability: WebObservability) -> None:
        self.metrics = RumMetrics(observability.registry, observability.client_errors)
        self.limiter = RateLimiter(settings.rum_rate_per_minute, settings.rum_burst)
        # Vitals feed alerts (FolioPoorLCP), so one address may only add a few an hour.
        self.vitals_share = RateLimiter.per_hour(settings.rum_vitals_per_hour)
        self.resolver = StarletteRouteResolver()

    def refuse(self, result: str, status: int, message: str) -> Response:
        """Count a refused beacon under ``result`` and answer with the JSON error."""
        self.metrics.beacons.labels(result).inc()
        headers = {"Retry-After": "60"} if status == 429 else None
        return JSONResponse(error_body(result, message), status_code=status, headers=headers)

    def accept(self, request: Request, client: str, beacon: Beacon) -> Response:
        """Observe a valid beacon against the page route it names, and answer 204."""
        # Starlette redirects /projects/ to /projects, so both are the same page.
        path = beacon.page.split("?", 1)[0].rstrip("/") or "/"
        # The browser reports the whole path, root_path included, as a request for it has.
        route = resolve_path(
            self.resolver,
            "GET",
            path,
            root_path=request.scope.get("root_path", ""),
            host=request.headers.get("host"),
            app=request.app,
        )
        # Only a beacon with vitals takes from the share, so one that reports only asset
        # timings or errors cannot use up a visitor's share.
        within_share = not beacon.vitals or self.vitals_share.allow(client)
        self.metrics.record(
            route if route in PAGE_ROUTES else UNMATCHED, beacon, observe_vitals=within_share
        )
        self.metrics.beacons.labels("accepted").inc()
        return Response(status_code=204)


async def read_capped(request: Request) -> bytes | None:
    """The body, or None when it is over MAX_BEACON_BYTES (declared or sent)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BEACON_BYTES:
        return None
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > MAX_BEACON_BYTES:
            return None
    return bytes(chunks)


def client_address(request: Request, settings: WebSettings) -> str:
    """The address a beacon is rate-limited by."""
    forwarded = request.headers.get("x-forwarded-for")
    if settings.trust_forwarded_for and forwarded:
        # The last hop was added by our own proxy; earlier ones are the client's to forge.
        return forwarded.split(",")[-1].strip()
    return request.client.host if request.client else "unknown"


def site_origins(request: Request, settings: WebSettings) -> list[str]:
    """The origins a beacon may come from: FOLIO_SITE_ORIGINS, or the site's own."""
    if settings.site_origins:
        return settings.site_origins
    scheme = request.url.scheme
    host = request.headers.get("host", "")
    if settings.trust_forwarded_for:
        # Behind our own TLS proxy the browser's origin is the proxy's scheme and host.
        scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
        host = request.headers.get("x-forwarded-host", host).split(",")[0].strip()
    return [f"{scheme}://{host}"] if host else []
