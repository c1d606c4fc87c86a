"""bench.middleware_cost times folio-api's real middleware, and its intervals mean what they say."""

from __future__ import annotations

import math
import statistics

from bench.intervals import mean_interval, median_interval
from bench.middleware_cost import batch, request_scope, stacks
from folio_metrics import MetricsMiddleware
from folio_metrics.exposition import render

from tests.processes import counter


async def test_the_timed_folio_middleware_records_every_request_under_its_route() -> None:
    """What is timed is folio-api's MetricsMiddleware, counting each call under the template."""
    apps = stacks()
    folio = apps["folio"]
    assert isinstance(folio, MetricsMiddleware)
    # As folio-api installs it: with its query counter and connection tracker.
    assert folio.queries is not None
    assert folio.peers is not None
    calls = 25
    await batch(folio, calls, request_scope())
    text = render(folio.metrics.registry).decode()
    labels = {"method": "GET", "endpoint": "/api/projects/{slug}", "status": "200"}
    assert counter(text, "http_requests_total", **labels) == calls, text


def test_mean_interval_is_the_t_interval() -> None:
    """Known values: mean 5, s = sqrt(2.5), t(4) = 2.776."""
    interval = mean_interval([3.0, 4.0, 5.0, 6.0, 7.0])
    half = 2.776 * math.sqrt(2.5) / math.sqrt(5)
    assert interval["median"] == 5.0
    assert math.isclose(interval["low"], 5.0 - half, rel_tol=1e-9)
    assert math.isclose(interval["high"], 5.0 + half, rel_tol=1e-9)


def test_median_interval_holds_the_median_of_its_population_about_95_percent_of_the_time() -> None:
    """Samples of 60 from a skewed population: the interval covers the true median ~95%."""
    import random

    generator = random.Random(7)  # noqa: S311 - reproducible samples, not secrets
    population_median = math.log(2)  # of an exponential with rate 1
    trials = 2000
    covered = 0
    for _ in range(trials):
        interval = median_interval([generator.expovariate(1.0) for _ in range(60)])
        covered += interval["low"] <= population_median <= interval["high"]
    assert 0.93 <= covered / trials <= 0.985, covered / trials
    values = [generator.random() for _ in range(61)]
    assert median_interval(values)["median"] == statistics.median(values)
