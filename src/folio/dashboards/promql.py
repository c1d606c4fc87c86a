"""The few PromQL shapes the dashboards repeat, spelled once."""

from __future__ import annotations

# Grafana's own window for rate(): at least four scrape intervals, so it is never empty.
RATE_WINDOW = "$__rate_interval"

# The families folio serves as native histograms (classic buckets alongside) by default.
# A Prometheus with native histograms on stores them as one series `NAME` and, before 2.45
# or without always_scrape_classic_histograms, no NAME_bucket/_count/_sum at all; one
# without the feature stores only the classic series. Queries on these families read
# whichever is there: `(native form) or (classic form)` (docs/queries.md).
NATIVE_HISTOGRAMS = frozenset(
    {
        "http_request_duration_seconds",
        "db_query_duration_seconds",
        "ssr_duration_seconds",
        "api_call_duration_seconds",
        "web_vitals_lcp_seconds",
        "web_vitals_inp_seconds",
        "web_vitals_cls",
        "web_vitals_fcp_seconds",
        "web_vitals_ttfb_seconds",
    }
)


def rate(metric: str, selector: str, by: str, window: str = RATE_WINDOW) -> str:
    """Per-second rate of a counter, summed by the given labels."""
    return f"sum by ({by}) (rate({metric}{{{selector}}}[{window}]))"


def quantile(q: float, histogram: str, selector: str, by: str, window: str = RATE_WINDOW) -> str:
    """The q-quantile of a histogram, by the given labels, native or classic."""
    grouping = f"{by}, le" if by else "le"
    buckets = f"rate({histogram}_bucket{{{selector}}}[{window}])"
    classic = f"histogram_quantile({q}, sum by ({grouping}) ({buckets}))"
    if histogram not in NATIVE_HISTOGRAMS:
        return classic
    native_sum = f"sum by ({by})" if by else "sum"
    native = f"histogram_quantile({q}, {native_sum} (rate({histogram}{{{selector}}}[{window}])))"
    return f"{native}\nor\n{classic}"


def distribution(histogram: str, selector: str, window: str = RATE_WINDOW) -> str:
    """Observations per bucket over each ``window``, for a heatmap, native or classic.

    The two forms have different labels (the classic one has ``le``), so a plain ``or``
    would keep both where Prometheus stores both; ``or on ()`` keeps the classic buckets
    only when there is no native histogram at all.
    """
    classic = f"sum by (le) (increase({histogram}_bucket{{{selector}}}[{window}]))"
    if histogram not in NATIVE_HISTOGRAMS:
        return classic
    return f"sum(increase({histogram}{{{selector}}}[{window}]))\nor on ()\n{classic}"


def zero_filled(numerator: str, denominator: str) -> str:
    """``numerator``, or 0 for every series of ``denominator`` where it has none yet.

    A labelled counter has no series until its first increment (the first 5xx, the first
    failed query), and an empty panel reads as "broken" rather than "none".
    """
    return f"(\n  {numerator}\n  or\n  0 * {denominator}\n)"


def error_ratio(metric: str, selector: str, bad: str, by: str) -> str:
    """Share of a counter's rate whose labels match ``bad``, by the given labels."""
    total = rate(metric, selector, by)
    errors = rate(metric, f"{selector}, {bad}", by)
    return f"{zero_filled(errors, total)}\n/ {total}"
