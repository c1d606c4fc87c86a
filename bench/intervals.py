"""95% confidence intervals for benchmark figures taken over repeated, interleaved rounds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

# Two-sided 95% quantiles of Student's t for 1 to 30 degrees of freedom; no scipy here.
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
Z_975 = 1.959964


def t_quantile(degrees: int) -> float:
    """The 97.5% quantile of Student's t with ``degrees`` degrees of freedom."""
    if degrees < 1:
        return math.nan
    return T_975[degrees - 1] if degrees <= len(T_975) else Z_975 + 2.4 / degrees


def mean_interval(values: Sequence[float]) -> dict[str, float]:
    """Median, mean, and the 95% t-interval of the mean: for a few rounds of seconds each."""
    count = len(values)
    if not count:
        return {"median": math.nan, "mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    mean = statistics.fmean(values)
    half = t_quantile(count - 1) * statistics.stdev(values) / math.sqrt(count) if count > 1 else 0
    return {
        "median": statistics.median(values),
        "mean": mean,
        "low": mean - half if count > 1 else math.nan,
        "high": mean + half if count > 1 else math.nan,
        "n": count,
    }


def median_interval(values: Sequence[float]) -> dict[str, float]:
    """The median and its distribution-free 95% interval (order statistics): for many batches.

    Robust where a batch now and then loses its core to another process: the outliers it
    makes move a mean, not the order statistics around the median.
    """
    ordered = sorted(values)
    count = len(ordered)
    if not count:
        return {"median": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    spread = Z_975 * math.sqrt(count) / 2
    # Ranks n/2 - z√n/2 and 1 + n/2 + z√n/2 (1-based), widened outwards, as indexes.
    low = max(math.floor(count / 2 - spread), 1) - 1
    high = min(math.ceil(1 + count / 2 + spread), count) - 1
    return {
        "median": statistics.median(ordered),
        "low": ordered[low],
        "high": ordered[high],
        "n": count,
    }


def paired(
    baseline: dict[int, float], variant: dict[int, float]
) -> tuple[list[float], list[float]]:
    """The rounds both were measured in, as two lists in round order."""
    rounds = sorted(set(baseline) & set(variant))
    return [baseline[r] for r in rounds], [variant[r] for r in rounds]


def differences(baseline: dict[int, float], variant: dict[int, float]) -> dict[str, float]:
    """Variant minus baseline, round by round, with the t-interval of the mean difference."""
    before, after = paired(baseline, variant)
    return mean_interval([a - b for b, a in zip(before, after, strict=True)])


def ratios(baseline: dict[int, float], variant: dict[int, float]) -> dict[str, float]:
    """Variant over baseline, round by round, with the t-interval of the mean ratio."""
    before, after = paired(baseline, variant)
    return mean_interval([a / b for b, a in zip(before, after, strict=True) if b])


def plus_minus(interval: dict[str, float], digits: int = 0, scale: float = 1.0) -> str:
    """``median [low, high]`` for a report cell; the bounds only where there are some."""
    median = interval["median"] * scale
    if math.isnan(interval.get("low", math.nan)):
        return f"{median:,.{digits}f}"
    low, high = interval["low"] * scale, interval["high"] * scale
    return f"{median:,.{digits}f} [{low:,.{digits}f}, {high:,.{digits}f}]"
