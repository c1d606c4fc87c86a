"""Progress bar and summary table for `folio loadgen`."""

from __future__ import annotations

from collections import Counter
from statistics import quantiles

BAR_WIDTH = 30


def progress_line(done: int, total: int, elapsed: float, failures: int) -> str:
    share = done / total if total else 0.0
    filled = int(BAR_WIDTH * min(share, 1.0))
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    rate = done / elapsed if elapsed > 0 else 0.0
    return f"[{bar}] {done}/{total} requests  {rate:6.1f}/s  {failures} failed"


def print_summary(
    sent: Counter[tuple[str, str, str, str]], latencies: dict[str, list[float]], elapsed: float
) -> None:
    """One row per (service, method, route, status), then latency per kind of request."""
    print(f"{'service':<8}{'method':<8}{'route':<24}{'status':>7}{'count':>8}")
    for (service, method, template, status), count in sorted(sent.items()):
        print(f"{service:<8}{method:<8}{template:<24}{status:>7}{count:>8}")
    print()
    print(f"{'kind':<12}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}")
    for kind, values in sorted(latencies.items()):
        p50, p95 = _percentiles(values)
        print(f"{kind:<12}{len(values):>7}{p50 * 1000:>9.1f}{p95 * 1000:>9.1f}")
    total = sum(sent.values())
    print(f"\n{total} requests in {elapsed:.1f} s ({total / elapsed if elapsed else 0:.1f}/s)")


def _percentiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (0.0, 0.0)
    cuts = quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94]
