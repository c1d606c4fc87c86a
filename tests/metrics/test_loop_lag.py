"""The event-loop lag sampler: what it observes, and the warm-up it leaves out."""

from __future__ import annotations

import asyncio
import time

import pytest
from folio_metrics import LoopLagSampler, MetricsRegistry

INTERVAL = 0.01


def _lag_count(registry: MetricsRegistry) -> int:
    return int(registry.families["python_asyncio_event_loop_lag_seconds"].unlabelled().count)


async def test_a_blocked_loop_is_observed_after_the_warm_up() -> None:
    """Once warm, a loop blocked for 150 ms shows as one sample over 100 ms."""
    registry = MetricsRegistry()
    sampler = LoopLagSampler(registry, interval=INTERVAL, warm_up=0)
    sampler.start()
    await asyncio.sleep(5 * INTERVAL)
    time.sleep(0.15)  # noqa: ASYNC251 - the point is to block the loop
    await asyncio.sleep(3 * INTERVAL)
    await sampler.stop()
    lag = registry.families["python_asyncio_event_loop_lag_seconds"].unlabelled()
    assert _lag_count(registry) >= 3
    assert lag.sum >= 0.1


async def test_the_warm_up_is_not_sampled() -> None:
    """A block during the first ``warm_up`` seconds, a new worker's one-time costs, is left out."""
    registry = MetricsRegistry()
    sampler = LoopLagSampler(registry, interval=INTERVAL, warm_up=0.3)
    sampler.start()
    await asyncio.sleep(INTERVAL)
    time.sleep(0.15)  # noqa: ASYNC251
    await asyncio.sleep(3 * INTERVAL)
    assert _lag_count(registry) == 0
    await asyncio.sleep(0.3)
    await sampler.stop()
    assert _lag_count(registry) > 0
    assert registry.families["python_asyncio_event_loop_lag_seconds"].unlabelled().sum < 0.1


def test_a_negative_warm_up_is_refused() -> None:
    """A negative warm-up is a ValueError that names it."""
    with pytest.raises(ValueError, match="warm-up"):
        LoopLagSampler(MetricsRegistry(), warm_up=-1)
