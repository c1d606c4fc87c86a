"""Runtime metrics of every live worker, labelled by worker, whichever worker is scraped."""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator

from prometheus_client import ProcessCollector
from prometheus_client.metrics_core import Metric

from folio_metrics.multiprocess.view import WORKER_LABEL
from folio_metrics.registry import MetricsRegistry
from folio_metrics.storage import SeriesStorage


class WorkerProcessCollector:
    """process_* for each live worker, read from /proc by the scraped one."""

    def __init__(self, workers: SeriesStorage) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid in self.workers.live_pids:
            # A fresh collector per pid: prometheus_client reads /proc/<pid>/ for each.
            collector = ProcessCollector(pid=functools.partial(str, pid), registry=None)
            for metric in collector.collect():
                family = merged.get(metric.name)
                if family is None:
                    family = merged[metric.name] = Metric(
                        metric.name, metric.documentation, metric.type
                    )
                for sample in metric.samples:
                    labels = {**sample.labels, WORKER_LABEL: str(pid)}
                    family.add_sample(sample.name, labels, sample.value)
        yield from merged.values()


def export_worker_gc(registry: MetricsRegistry) -> None:
    """python_gc_* as prometheus_client names them, published by each worker for itself."""
    families = {
        "collected": registry.counter(
            "python_gc_objects_collected_total",
            "Objects collected during gc",
            ("generation",),
            aggregate="per_worker",
        ),
        "uncollectable": registry.counter(
            "python_gc_objects_uncollectable_total",
            "Uncollectable objects found during GC",
            ("generation",),
            aggregate="per_worker",
        ),
        "collections": registry.counter(
            "python_gc_collections_total",
            "Number of times this generation was collected",
            ("generation",),
            aggregate="per_worker",
        ),
    }

    def publish() -> None:
        for generation, stats in enumerate(gc.get_stats()):
            for key, family in families.items():
                # Counters set to the interpreter's own running totals.
                family.labels(str(generation)).cells[0] = float(stats[key])

    publish()
    registry.on_collect("python_gc", publish)
