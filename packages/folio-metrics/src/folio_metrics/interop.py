"""Metrics an app already defines with prometheus_client, served beside the registry's own."""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric

logger = logging.getLogger("folio_metrics")

# prometheus_client's default collectors: process, platform and GC. The registry exports its
# own versions of these (folio_metrics.runtime), exact across workers, so theirs are left out.
DEFAULT_COLLECTOR_PREFIXES = ("process_", "python_gc_", "python_info")


class PrometheusClientMetrics:
    """A collector that yields ``source``'s metrics, less those the registry renders itself.

    With many workers, each worker's prometheus_client metrics live in that worker alone:
    a scrape shows the values of whichever worker answered it.
    """

    def __init__(
        self,
        own_names: Container[str],
        source: CollectorRegistry = REGISTRY,
        skip_prefixes: tuple[str, ...] = DEFAULT_COLLECTOR_PREFIXES,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        """``own_names`` are the registry's family names, which must not be served twice;
        ``on_error`` is told when the source fails, which then adds nothing to the scrape."""
        self.on_error = on_error
        self.source = source
        self.own_names = own_names
        self.skip_prefixes = skip_prefixes
        self._warned: set[str] = set()

    def collect(self) -> Iterator[Metric]:
        """The source's metrics, each name at most once in the scrape."""
        try:
            metrics = list(self.source.collect())
        except Exception:
            if self.on_error is None:
                raise
            self.on_error("prometheus_client")
            return
        for metric in metrics:
            if metric.name.startswith(self.skip_prefixes):
                continue
            if metric.name in self.own_names:
                if metric.name not in self._warned:
                    self._warned.add(metric.name)
                    logger.warning(
                        "prometheus_client metric %r is left out: the registry has its own",
                        metric.name,
                    )
                continue
            yield metric
