"""Find PromQL that reads a native family's classic series with no native form beside it.

A Prometheus with native histograms on stores a native family as one series `NAME`, and
on 2.40-2.44 drops NAME_bucket, NAME_count and NAME_sum; one without the feature stores
only those. So every shipped query on such a family must read both: `(native) or (classic)`.
"""

from __future__ import annotations

import re

from folio.dashboards.promql import NATIVE_HISTOGRAMS


def _reads(expr: str, series: str) -> bool:
    """Whether ``expr`` selects the series named ``series`` (not a longer name)."""
    return re.search(rf"(?<![\w:]){re.escape(series)}(?![\w:])", expr) is not None


def classic_only(expr: str) -> list[str]:
    """The native families whose classic series ``expr`` reads without reading ``NAME``."""
    return sorted(
        family
        for family in NATIVE_HISTOGRAMS
        if any(_reads(expr, f"{family}_{suffix}") for suffix in ("bucket", "count", "sum"))
        and not _reads(expr, family)
    )


def native_only(expr: str) -> list[str]:
    """The native families ``expr`` reads natively with no classic form to fall back on."""
    return sorted(
        family
        for family in NATIVE_HISTOGRAMS
        if _reads(expr, family)
        and not any(_reads(expr, f"{family}_{suffix}") for suffix in ("bucket", "count", "sum"))
    )


def one_sided(exprs: list[str]) -> list[tuple[str, list[str], list[str]]]:
    """(expr, classic-only families, native-only families) for each expr missing a form."""
    found = []
    for expr in exprs:
        classic, native = classic_only(expr), native_only(expr)
        if classic or native:
            found.append((expr, classic, native))
    return found
