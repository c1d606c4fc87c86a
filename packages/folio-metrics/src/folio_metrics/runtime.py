"""Runtime metrics: process, GC and Python info, event-loop lag, and build info."""

from __future__ import annotations

import asyncio
import contextlib
import platform
import time

from prometheus_client import GCCollector, PlatformCollector, ProcessCollector

from folio_metrics.registry import MetricsRegistry
from folio_metrics.worker_runtime import WorkerProcessCollector, export_worker_gc

LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def export_process_metrics(registry: MetricsRegistry) -> None:
    """process_*, python_gc_* and python_info, from prometheus_client's own collectors.

    Across workers, process_* and python_gc_* carry a ``worker`` label: one series per
    live worker, whichever is scraped.
    """
    PlatformCollector(registry=registry.bridged)
    if registry.storage is None:
        ProcessCollector(registry=registry.bridged)
        GCCollector(registry=registry.bridged)
        return
    registry.bridge(WorkerProcessCollector(registry.storage))
    export_worker_gc(registry)


def export_build_info(registry: MetricsRegistry, prefix: str, version: str, commit: str) -> None:
    """``<prefix>_build_info{version,commit,python} 1``: join on it to label by release."""
    registry.gauge(
        f"{prefix}_build_info",
        "Always 1; the labels say which build is running.",
        ("version", "commit", "python"),
        aggregate="local",
    ).labels(version, commit, platform.python_version()).set(1)


class LoopLagSampler:
    """Samples how late the event loop wakes a sleeping task: the time it was blocked.

    It is Python's counterpart of prom-client's nodejs_eventloop_lag_seconds. The first
    ``warm_up`` seconds are not sampled: a new worker's first requests pay one-time costs
    (the first database connection, the first compile of each query), and a worker
    recycled under load would otherwise report them as lag every time.
    """

    def __init__(
        self, registry: MetricsRegistry, interval: float = 0.5, warm_up: float = 5.0
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the sampling interval must be positive, got {interval}")
        if warm_up < 0:
            raise ValueError(f"the warm-up must not be negative, got {warm_up}")
        self.interval = interval
        self.warm_up = warm_up
        self.registry = registry
        self.lag = registry.histogram(
            "python_asyncio_event_loop_lag_seconds",
            "How much later than asked the event loop woke a sleeping task.",
            buckets=LAG_BUCKETS,
            aggregate="per_worker",
        ).unlabelled()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin sampling, on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        """Stop sampling and wait for the sampler to end."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        warm_until = time.perf_counter() + self.warm_up
        while True:
            asked_at = time.perf_counter()
            await asyncio.sleep(self.interval)
            if asked_at >= warm_until:
                self.lag.observe(max(time.perf_counter() - asked_at - self.interval, 0.0))
            if self.registry.storage is not None:
                # Only the scraped worker renders; the others publish their scrape-time
                # values (pool sizes, GC counts) on this tick instead, and repair their
                # files if someone damaged them.
                self.registry.run_collect_hooks()
                self.registry.maintain()


class StoragePublisher:
    """Across workers, publishes this worker's scrape-time values and repairs its files.

    Only the scraped worker renders, so the others run their hooks (pool sizes, GC counts)
    on a tick instead. ``LoopLagSampler`` does the same on its own tick.
    """

    def __init__(self, registry: MetricsRegistry, interval: float = 0.5) -> None:
        self.registry = registry
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin publishing, on the running event loop."""
        if self._task is None and self.registry.storage is not None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="publish")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.registry.run_collect_hooks()
            self.registry.maintain()
