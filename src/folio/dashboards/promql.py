"""The few PromQL shapes the dashboards repeat, spelled once."""

from __future__ import annotations

# Grafana's own window for rate(): at least four scrape intervals, so it is never empty.
RATE_WINDOW = "$__rate_interval"


def rate(metric: str, selector: str, by: str, window: str = RATE_WINDOW) -> str:
    """Per-second rate of a counter, summed by the given labels."""
    return f"sum by ({by}) (rate({metric}{{{selector}}}[{window}]))"


def quantile(q: float, histogram: str, selector: str, by: str, window: str = RATE_WINDOW) -> str:
    """The q-quantile of a histogram, by the given labels (``le`` is added)."""
    grouping = f"{by}, le" if by else "le"
    buckets = f"rate({histogram}_bucket{{{selector}}}[{window}])"
    return f"histogram_quantile({q}, sum by ({grouping}) ({buckets}))"


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
