"""folio-web: pages, its calls to folio-api, what browsers report, the runtime."""

from __future__ import annotations

from folio.dashboards.model import JSON, Panel, Query, Row, dashboard, query_variable
from folio.dashboards.model import timeseries as series
from folio.dashboards.promql import error_ratio, quantile, rate
from folio.dashboards.runtime import runtime_row

SERVICE = 'job=~"$job", instance=~"$instance"'
ROUTES = f'{SERVICE}, route=~"$route"'
# Browsers report one set of vitals per page view: far fewer samples than requests, so
# their quantiles need a longer window than $__rate_interval to be more than noise.
RUM_WINDOW = "30m"
# (metric suffix, label, unit): CLS is a unitless score, the others are durations.
VITALS = (
    ("lcp_seconds", "LCP", "s"),
    ("inp_seconds", "INP", "s"),
    ("cls", "CLS", "none"),
    ("fcp_seconds", "FCP", "s"),
    ("ttfb_seconds", "TTFB", "s"),
)


def build() -> JSON:
    variables = [
        query_variable("job", "Job", "label_values(folio_web_build_info, job)"),
        query_variable(
            "instance", "Instance", 'label_values(folio_web_build_info{job=~"$job"}, instance)'
        ),
        query_variable("route", "Route", 'label_values(page_views_total{job=~"$job"}, route)'),
    ]
    rows = [_pages(), _api_calls(), _browsers(), _vitals(), runtime_row(SERVICE)]
    return dashboard(
        "folio-web",
        "folio-web",
        "The server-rendered site: pages, its calls to folio-api, and what browsers report.",
        variables,
        rows,
    )


def _pages() -> Row:
    return Row(
        "Pages",
        (
            series(
                "Page views by route",
                "Which pages do visitors read?",
                Query(rate("page_views_total", ROUTES, "route"), "{{route}}"),
                unit="reqps",
                width=8,
            ),
            series(
                "Server-side render p95 by route",
                "How long does each page take to render, folio-api calls included?",
                Query(quantile(0.95, "ssr_duration_seconds", ROUTES, "route"), "{{route}}"),
                unit="s",
                width=8,
            ),
            series(
                "Responses by status",
                "Is the site answering 200, or 404s and 503s (folio-api unreachable)?",
                Query(rate("http_requests_total", SERVICE, "status"), "{{status}}"),
                unit="reqps",
                width=8,
            ),
        ),
    )


def _api_calls() -> Row:
    failed = 'status=~"5..|error|timeout"'
    return Row(
        "Calls to folio-api",
        (
            series(
                "API calls by endpoint and status",
                "What folio-web asks of folio-api, and what it gets back (error, timeout).",
                Query(
                    rate("api_calls_total", SERVICE, "endpoint, status"), "{{endpoint}} {{status}}"
                ),
                unit="reqps",
                width=8,
            ),
            series(
                "API call failure ratio by endpoint",
                "What share of calls to folio-api fail (5xx, no connection, timeout)?",
                Query(error_ratio("api_calls_total", SERVICE, failed, "endpoint"), "{{endpoint}}"),
                unit="percentunit",
                width=8,
            ),
            series(
                "API call latency p95 by endpoint",
                "Is folio-api what makes pages slow?",
                Query(
                    quantile(0.95, "api_call_duration_seconds", SERVICE, "endpoint"),
                    "{{endpoint}}",
                ),
                unit="s",
                width=8,
            ),
        ),
    )


def _browsers() -> Row:
    return Row(
        "Browsers",
        (
            series(
                "Client errors by type",
                "Are visitors hitting JavaScript errors, failed loads or render errors?",
                Query(rate("client_errors_total", SERVICE, "type"), "{{type}}"),
                unit="ops",
                width=8,
            ),
            series(
                "Static asset load time p75 and p95",
                "How long do browsers wait for scripts, stylesheets and images?",
                Query(
                    quantile(
                        0.75, "static_asset_load_duration_seconds", SERVICE, "type", RUM_WINDOW
                    ),
                    "{{type}} p75",
                ),
                Query(
                    quantile(
                        0.95, "static_asset_load_duration_seconds", SERVICE, "type", RUM_WINDOW
                    ),
                    "{{type}} p95",
                ),
                unit="s",
                width=8,
            ),
            series(
                "Beacons by result",
                "Are browser reports accepted, or rejected (malformed, rate-limited)?",
                Query(rate("rum_beacons_total", SERVICE, "result"), "{{result}}"),
                unit="ops",
                width=8,
            ),
        ),
    )


def _vitals() -> Row:
    p75 = [_vital_p75(suffix, label, unit) for suffix, label, unit in VITALS]
    good = series(
        "Share of good page views, per vital and route",
        "What share of visits meet Google's 'good' threshold? The recording rules use 1 h.",
        *(
            Query(
                f'route:web_vitals_{label.lower()}:good_ratio_1h{{route=~"$route"}}',
                f"{label} {{{{route}}}}",
            )
            for _, label, _ in VITALS
        ),
        unit="percentunit",
        width=24,
    )
    return Row("Core Web Vitals", (*p75, good))


def _vital_p75(suffix: str, label: str, unit: str) -> Panel:
    metric = f"web_vitals_{suffix}"
    return series(
        f"{label} p75 by route",
        f"What do three visits in four experience for {label}? Google rates vitals at p75.",
        Query(quantile(0.75, metric, ROUTES, "route", RUM_WINDOW), "{{route}}"),
        unit=unit,
        width=12 if label in ("LCP", "INP") else 8,
    )
