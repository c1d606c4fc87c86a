"""Metric families: validation, label children and the series cap."""

from __future__ import annotations

import pytest
from folio_metrics import OVERFLOW_LABEL_VALUE, MetricsRegistry


def test_counter_refuses_negative_increments() -> None:
    """A counter only goes up; a negative increment is a ValueError naming the amount."""
    counter = MetricsRegistry().counter("jobs_total", "Jobs.").unlabelled()
    with pytest.raises(ValueError, match=r"inc\(-1\) is negative"):
        counter.inc(-1)


def test_wrong_number_of_label_values_is_refused() -> None:
    """labels() with the wrong arity says which labels the metric takes."""
    family = MetricsRegistry().counter("jobs_total", "Jobs.", ["queue"])
    with pytest.raises(ValueError, match=r"takes 1 label values \('queue',\), got 2"):
        family.labels("a", "b")


@pytest.mark.parametrize("name", ["", "1abc", "has space", "dash-ed", "ünï"])
def test_invalid_metric_names_are_refused(name: str) -> None:
    """Metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*."""
    with pytest.raises(ValueError, match="invalid metric name"):
        MetricsRegistry().gauge(name, "x")


@pytest.mark.parametrize("label", ["__reserved", "1st", "with-dash", ""])
def test_invalid_label_names_are_refused(label: str) -> None:
    """Label names must be identifiers and must not start with '__'."""
    with pytest.raises(ValueError, match="invalid label name"):
        MetricsRegistry().gauge("g", "x", [label])


def test_duplicate_registration_is_refused() -> None:
    """Registering the same name twice in one registry is an error."""
    registry = MetricsRegistry()
    registry.counter("jobs_total", "Jobs.")
    with pytest.raises(ValueError, match="already registered"):
        registry.counter("jobs", "Jobs again.")


def test_two_registries_never_collide() -> None:
    """The same metric in two registries keeps separate values."""
    first, second = MetricsRegistry(), MetricsRegistry()
    first.counter("jobs_total", "Jobs.").unlabelled().inc(3)
    second.counter("jobs_total", "Jobs.").unlabelled().inc()
    assert first.families["jobs"].unlabelled().value == 3
    assert second.families["jobs"].unlabelled().value == 1


@pytest.mark.parametrize("buckets", [[], [2, 1], [1, 1], [float("nan")]])
def test_bad_buckets_are_refused(buckets: list[float]) -> None:
    """Buckets must be a non-empty, strictly increasing list of numbers."""
    with pytest.raises(ValueError, match="bucket"):
        MetricsRegistry().histogram("h_seconds", "x", buckets=buckets)


def test_histogram_buckets_use_le_semantics() -> None:
    """A value equal to a bound lands in that bound's bucket; larger ones in +Inf."""
    child = MetricsRegistry().histogram("h_seconds", "x", buckets=[1, 2]).unlabelled()
    for value in (0.5, 1, 1.5, 2, 3):
        child.observe(value)
    assert child.bucket_counts == [2, 2, 1]
    assert child.count == 5
    assert child.sum == 8


def test_negative_observations_need_negative_buckets() -> None:
    """With buckets all >= 0 a negative value is refused; with a negative bucket it counts."""
    registry = MetricsRegistry()
    latency = registry.histogram("latency_seconds", "x", buckets=[0.1, 1]).unlabelled()
    with pytest.raises(ValueError, match="buckets are all >= 0"):
        latency.observe(-0.5)
    assert latency.count == 0
    offset = registry.histogram("offset_seconds", "x", buckets=[-1, 0, 1]).unlabelled()
    offset.observe(-0.5)
    assert (offset.bucket_counts, offset.sum) == ([0, 1, 0, 0], -0.5)


def test_series_past_the_cap_go_to_one_overflow_series() -> None:
    """Past max_series, new label sets share one overflow child and are counted."""
    registry = MetricsRegistry()
    family = registry.counter("hits_total", "Hits.", ["path"], max_series=3)
    for index in range(10):
        family.labels(f"/p{index}").inc()
    assert len(family.children) == 3
    overflow = family.labels("/another")
    assert overflow.label_values == (OVERFLOW_LABEL_VALUE,)
    assert overflow.value == 7
    assert registry.series_overflow.labels("hits_total").value == 8
    family.labels("/p0").inc()
    assert registry.series_overflow.labels("hits_total").value == 8
