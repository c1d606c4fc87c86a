"""The process row both services' dashboards share: CPU, memory, GC, event loop, folio_metrics."""

from __future__ import annotations

from folio.dashboards.model import Query, Row, timeseries
from folio.dashboards.promql import rate, zero_filled

# Per-worker families carry a `worker` label (docs/metrics.md, "Several workers").
WORKER = "instance, worker"


def runtime_row(selector: str) -> Row:
    """``selector`` picks the service's job and instances, e.g. ``job=~"$job"``."""
    lag = (
        "histogram_quantile(0.99, sum by (instance, worker, le) "
        f"(rate(python_asyncio_event_loop_lag_seconds_bucket{{{selector}}}[$__rate_interval])))"
    )
    failures = zero_filled(
        rate("folio_metrics_errors_total", selector, "job, hook"),
        f"sum by (job) (up{{{selector}}})",
    )
    return Row(
        "Runtime",
        (
            timeseries(
                "CPU by worker",
                "How much of a core each worker uses (1 = one full core).",
                Query(
                    rate("process_cpu_seconds_total", selector, WORKER), "{{instance}} {{worker}}"
                ),
                unit="percentunit",
                width=8,
            ),
            timeseries(
                "Resident memory by worker",
                "Is any worker's memory growing without bound?",
                Query(
                    f"sum by ({WORKER}) (process_resident_memory_bytes{{{selector}}})",
                    "{{instance}} {{worker}}",
                ),
                unit="bytes",
                width=8,
            ),
            timeseries(
                "Event-loop lag p99 by worker",
                "Is something blocking a worker's event loop? Every request on it waits this long.",
                Query(lag, "{{instance}} {{worker}}"),
                unit="s",
                width=8,
            ),
            timeseries(
                "Garbage collections by generation",
                "How often Python's collector runs; generation 2 runs pause the worker longest.",
                Query(
                    rate("python_gc_collections_total", selector, "generation"),
                    "gen {{generation}}",
                ),
                unit="ops",
            ),
            timeseries(
                "folio_metrics failures",
                "Did an instrumentation hook fail? The request went on; the log says why.",
                Query(failures, "{{job}} {{hook}}"),
                unit="ops",
            ),
        ),
    )
