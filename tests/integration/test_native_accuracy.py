"""A real Prometheus 2.42 answers p50, p90 and p99 from native histograms within one bucket.

The experiment is bench/accuracy.py's, on its quick size: the same code makes the table in
docs/benchmarks.md. It needs no `folio run`, only the app it starts and two Prometheus.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench import accuracy, prometheus
from tests.ci import unavailable


def test_native_quantiles_are_within_one_bucket(tmp_path: Path) -> None:
    """Native p50, p90 and p99 are within one schema-3 bucket (9.05%) of the exact quantiles
    of what the middleware observed; the classic buckets' errors are reported beside them."""
    try:
        prometheus.binary()
    except prometheus.PrometheusUnavailable as error:
        unavailable(str(error))
    result = accuracy.measure(tmp_path, quick=True)
    table = "\n".join(accuracy.report_lines(result))
    print(table)  # shown with -s, and with any failure
    rows = result["quantiles"]
    assert [row["q"] for row in rows] == [0.5, 0.9, 0.99]
    assert all(abs(row["native_error"]) <= accuracy.BOUND for row in rows), table
    assert all(math.isfinite(row["classic_error"]) for row in rows), table
    # Stored at the schema the bound is for: no lowering under the bucket budget.
    assert result["native_schema"] == accuracy.SCHEMA == 3, table
