"""The /status page's charts: a fixed set of named PromQL queries and time ranges.

The set is fixed on purpose. The browser names a chart and picks a range from RANGES, and
the server looks both up here; nothing from a request is ever put into PromQL. So the page
cannot be used to run arbitrary queries (expensive ones, or ones that read series an
operator page should not show) against the Prometheus behind it, token or no token.

Ratios use `(errors or 0 * total) / total`, as deploy/prometheus/rules/recording.yml does,
so they are 0 rather than absent while there is traffic and no error.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Query:
    """One PromQL expression; each result series is named by its ``label``, or ``name``."""

    promql: str
    label: str | None = None
    name: str | None = None

    def series_name(self, metric: dict[str, str]) -> str:
        if self.label is not None:
            return metric.get(self.label, "")
        return self.name or ""


@dataclass(frozen=True)
class Chart:
    """A chart on the page: its title, what its values are (``unit``), and its queries."""

    name: str
    title: str
    description: str
    unit: str  # "reqps", "ratio" or "seconds": status.js formats axes and legends by it
    queries: tuple[Query, ...]


@dataclass(frozen=True)
class TimeRange:
    """How far back a chart looks, and the spacing of its points (both in seconds)."""

    seconds: int
    step: int


def _quantile(q: float, histogram: str, by: str, window: str) -> str:
    """The q-quantile of a histogram folio serves as native and classic, whichever is stored.

    A Prometheus with native histograms on stores only the native series on 2.40-2.44; one
    without the feature only the classic ``_bucket`` series. Both halves give the same labels,
    so ``or`` keeps the native value where there are both.
    """
    native = f"sum{f' by ({by})' if by else ''} (rate({histogram}[{window}]))"
    classic = f"sum by ({f'{by}, ' if by else ''}le) (rate({histogram}_bucket[{window}]))"
    return f"histogram_quantile({q}, {native}) or histogram_quantile({q}, {classic})"


def _vital_p75(vital: str) -> Query:
    metric = f"web_vitals_{vital.lower()}_seconds"
    return Query(_quantile(0.75, metric, "", "5m"), name=vital)


_ERRORS = 'sum by (job) (rate(http_requests_total{status=~"5.."}[1m]))'
_TOTAL = "sum by (job) (rate(http_requests_total[1m]))"

CHARTS: dict[str, Chart] = {
    chart.name: chart
    for chart in (
        Chart(
            "request_rate",
            "Request rate",
            "HTTP requests answered per second, per service (1-minute rate).",
            "reqps",
            (Query(_TOTAL, label="job"),),
        ),
        Chart(
            "error_ratio",
            "Error ratio",
            "Share of requests answered with a 5xx status, per service (1-minute rate).",
            "ratio",
            (Query(f"({_ERRORS} or 0 * {_TOTAL}) / {_TOTAL}", label="job"),),
        ),
        Chart(
            "latency_p95",
            "Latency, 95th percentile",
            "95% of requests were answered within this time, per service (1-minute window).",
            "seconds",
            (
                Query(
                    _quantile(0.95, "http_request_duration_seconds", "job", "1m"),
                    label="job",
                ),
            ),
        ),
        Chart(
            "web_vitals",
            "Web vitals, 75th percentile",
            "What visitors' browsers report, all pages together (5-minute window). "
            "CLS has no unit, so it is left out.",
            "seconds",
            tuple(_vital_p75(vital) for vital in ("LCP", "INP", "FCP", "TTFB")),
        ),
    )
}

# The step keeps every chart at a few hundred points at most, and is never longer than the
# 1-minute rate windows, so no request between two points goes unseen.
RANGES: dict[str, TimeRange] = {
    "15m": TimeRange(15 * 60, 5),
    "1h": TimeRange(60 * 60, 15),
    "6h": TimeRange(6 * 60 * 60, 60),
}
DEFAULT_RANGE = "15m"
