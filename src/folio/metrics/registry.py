"""A registry of metric families; each app builds its own, so nothing is global."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from folio.metrics.families import (
    DEFAULT_MAX_SERIES,
    CounterFamily,
    GaugeFamily,
    HistogramFamily,
)

logger = logging.getLogger("folio.metrics")

FamilyT = TypeVar("FamilyT", CounterFamily, GaugeFamily, HistogramFamily)
CollectHook = Callable[[], None]


class MetricsRegistry:
    """Owns metric families, scrape-time hooks and bridged prometheus_client collectors."""

    def __init__(self, *, default_max_series: int = DEFAULT_MAX_SERIES) -> None:
        self.default_max_series = default_max_series
        self.families: dict[str, CounterFamily | GaugeFamily | HistogramFamily] = {}
        self.collect_hooks: list[tuple[str, CollectHook]] = []
        # prometheus_client's process, GC and platform collectors, rendered by it.
        self.bridged = CollectorRegistry(auto_describe=False)
        self.series_overflow = self.counter(
            "folio_metrics_series_overflow_total",
            "Observations sent to the overflow series because a metric hit its series cap.",
            ["metric"],
            max_series=10_000,
        )
        self.series_overflow.on_overflow = None  # its own overflow must not recurse
        self.hook_errors = self.counter(
            "folio_metrics_errors_total",
            "Failures inside folio's instrumentation; the request or scrape went on without it.",
            ["hook"],
            max_series=1_000,
        )

    def counter(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        *,
        max_series: int | None = None,
    ) -> CounterFamily:
        family = CounterFamily(
            name,
            documentation,
            label_names,
            max_series=max_series or self.default_max_series,
            on_overflow=self._count_overflow,
        )
        return self._register(family)

    def gauge(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        *,
        max_series: int | None = None,
    ) -> GaugeFamily:
        family = GaugeFamily(
            name,
            documentation,
            label_names,
            max_series=max_series or self.default_max_series,
            on_overflow=self._count_overflow,
        )
        return self._register(family)

    def histogram(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        max_series: int | None = None,
    ) -> HistogramFamily:
        family = HistogramFamily(
            name,
            documentation,
            label_names,
            buckets=buckets,
            max_series=max_series or self.default_max_series,
            on_overflow=self._count_overflow,
        )
        return self._register(family)

    def on_collect(self, name: str, hook: CollectHook) -> None:
        """Run ``hook`` before every render, e.g. to copy pool sizes into gauges."""
        self.collect_hooks.append((name, hook))

    def bridge(self, collector: Collector) -> None:
        """Export a prometheus_client collector (process, GC, platform) as it renders itself."""
        self.bridged.register(collector)

    def run_collect_hooks(self) -> None:
        for name, hook in self.collect_hooks:
            try:
                hook()
            except Exception:
                self.record_hook_error(name)

    def record_hook_error(self, hook: str) -> None:
        """Log and count a failure inside instrumentation; never raises."""
        logger.exception("folio.metrics hook %r failed; continuing without it", hook)
        self.hook_errors.labels(hook).inc()

    def _register(self, family: FamilyT) -> FamilyT:
        if family.name in self.families:
            raise ValueError(f"metric {family.name!r} is already registered in this registry")
        self.families[family.name] = family
        return family

    def _count_overflow(self, metric: str) -> None:
        self.series_overflow.labels(metric).inc()
