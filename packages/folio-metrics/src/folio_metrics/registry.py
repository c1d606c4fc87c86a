"""A registry of metric families; each app builds its own, so nothing is global."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.registry import Collector

from folio_metrics.families import (
    DEFAULT_MAX_SERIES,
    Aggregate,
    AnyFamily,
    CounterFamily,
    GaugeFamily,
    HistogramFamily,
)
from folio_metrics.native import NativeBuckets
from folio_metrics.storage import SeriesStorage

logger = logging.getLogger("folio_metrics")

Family = AnyFamily
FamilyT = TypeVar("FamilyT", CounterFamily, GaugeFamily, HistogramFamily)
CollectHook = Callable[[], None]


class MetricsRegistry:
    """Owns metric families, scrape-time hooks and bridged prometheus_client collectors.

    With ``storage``, series live where the service's worker processes share them, and
    renders show every worker's values merged (see folio_metrics.multiprocess).
    """

    def __init__(
        self,
        *,
        default_max_series: int = DEFAULT_MAX_SERIES,
        storage: SeriesStorage | None = None,
    ) -> None:
        self.default_max_series = default_max_series
        self.storage = storage
        self.families: dict[str, Family] = {}
        self.collect_hooks: list[tuple[str, CollectHook]] = []
        # prometheus_client's process, GC and platform collectors, rendered by it.
        self.bridged = CollectorRegistry(auto_describe=False)
        # Its own overflow must not recurse, hence no on_overflow.
        self.series_overflow = CounterFamily(
            "folio_metrics_series_overflow_total",
            "Observations sent to the overflow series because a metric hit its series cap.",
            ["metric"],
            max_series=10_000,
        )
        self._register(self.series_overflow)
        self.hook_errors = self.counter(
            "folio_metrics_errors_total",
            "Failures inside metrics instrumentation; the request or scrape went on without it.",
            ["hook", "reason"],
            max_series=1_000,
        )
        if storage is not None:
            storage.attach(self)

    def counter(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        *,
        max_series: int | None = None,
        aggregate: Aggregate = "sum",
    ) -> CounterFamily:
        """A counter family; ``aggregate`` is how workers combine: "sum" or "per_worker"."""
        family = CounterFamily(
            name,
            documentation,
            label_names,
            max_series=max_series or self.default_max_series,
            on_overflow=self._count_overflow,
            aggregate=_check_aggregate(name, aggregate, local_allowed=False),
        )
        return self._register(family)

    def gauge(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        *,
        max_series: int | None = None,
        aggregate: Aggregate = "sum",
    ) -> GaugeFamily:
        """A gauge; ``aggregate`` says how workers combine: "sum" (over live workers),
        "per_worker" (a ``worker`` label) or "local" (the scraped worker's own value)."""
        family = GaugeFamily(
            name,
            documentation,
            label_names,
            max_series=max_series or self.default_max_series,
            on_overflow=self._count_overflow,
            aggregate=_check_aggregate(name, aggregate, local_allowed=True),
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
        aggregate: Aggregate = "sum",
        native: NativeBuckets | None = None,
    ) -> HistogramFamily:
        """A histogram family with the given bucket upper bounds ("+Inf" is added), and
        with ``native``, exponential buckets too, which the protobuf format exposes."""
        family = HistogramFamily(
            name,
            documentation,
            label_names,
            buckets=buckets,
            max_series=max_series or self.default_max_series,
            on_overflow=self._count_overflow,
            aggregate=_check_aggregate(name, aggregate, local_allowed=False),
            native=native,
        )
        return self._register(family)

    def on_collect(self, name: str, hook: CollectHook) -> None:
        """Run ``hook`` before every render, e.g. to copy pool sizes into gauges."""
        self.collect_hooks.append((name, hook))

    def bridge(self, collector: Collector) -> None:
        """Export a prometheus_client collector (process, GC, platform) as it renders itself."""
        self.bridged.register(collector)

    def families_to_render(self) -> list[Family]:
        """This process's families, or, across workers, every worker's values merged."""
        if self.storage is None:
            return list(self.families.values())
        return self.storage.merged_families(self)

    def maintain(self) -> None:
        """Across workers, let this one repair its files; call it on the event loop."""
        if self.storage is not None:
            self.storage.maintain()

    def run_collect_hooks(self) -> None:
        """Run every scrape-time hook; a failing one is logged and counted."""
        for name, hook in self.collect_hooks:
            try:
                hook()
            except Exception:
                self.record_hook_error(name)

    def record_hook_error(self, hook: str) -> None:
        """Log and count a failure inside instrumentation; never raises."""
        logger.exception("folio_metrics hook %r failed; continuing without it", hook)
        self.hook_errors.labels(hook, "exception").inc()

    def _register(self, family: FamilyT) -> FamilyT:
        if family.name in self.families:
            raise ValueError(f"metric {family.name!r} is already registered in this registry")
        if self.storage is not None:
            allocate = self.storage.allocator(family.name, family.kind, family.aggregate)
            if allocate is not None:
                family.allocate = allocate
        self.families[family.name] = family
        if family.label_names and family is not self.series_overflow:
            # Served at 0 from the start, so that increase() sees the first overflow too.
            self.series_overflow.labels(family.sample_name)
        return family

    def _count_overflow(self, metric: str) -> None:
        self.series_overflow.labels(metric).inc()


def _check_aggregate(name: str, aggregate: str, *, local_allowed: bool) -> Aggregate:
    allowed: tuple[Aggregate, ...] = (
        ("sum", "per_worker", "local")
        if local_allowed
        else (
            "sum",
            "per_worker",
        )
    )
    if aggregate not in allowed:
        raise ValueError(
            f"{name}: aggregate must be one of {', '.join(allowed)}, got {aggregate!r}"
        )
    return aggregate
