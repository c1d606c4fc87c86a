"""Native histograms: bucket indexes, observations, the bucket budget and exact merges."""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter
from pathlib import Path

import pytest
from folio_metrics import MetricsRegistry, NativeBuckets, render
from folio_metrics.children import NativeHistogramChild
from folio_metrics.multiprocess import WorkerMetrics
from folio_metrics.native import sparse

from tests.metrics.multiprocess.test_directory import Job, end, fork_worker, wait_done

BUCKETS = (0.01, 0.1, 1.0)


def expected_index(value: float, schema: int) -> int:
    """The bucket of ``value``: bucket i holds (2**((i-1)/2**schema), 2**(i/2**schema)]."""
    index = math.ceil(math.log2(value) * 2**schema)
    # log2 rounds: settle on the bucket whose edges really hold the value.
    while value <= 2 ** ((index - 1) / 2**schema):
        index -= 1
    while value > 2 ** (index / 2**schema):
        index += 1
    return index


@pytest.mark.parametrize("schema", range(9))
def test_each_value_lands_in_the_bucket_its_definition_gives(schema: int) -> None:
    native = NativeBuckets(schema=schema)
    rng = random.Random(schema)  # noqa: S311 (test data, not secrets)
    values = [math.exp(rng.uniform(-14.0, 8.0)) for _ in range(3000)]
    values += [2.0**k for k in range(-20, 12)]  # a power of two is its bucket's upper edge
    assert [native.index(v) for v in values] == [expected_index(v, schema) for v in values]


@pytest.mark.parametrize("schema", [0, 3, 8])
def test_upper_edges_are_the_edges_the_definition_gives(schema: int) -> None:
    native = NativeBuckets(schema=schema)
    for index in range(native.lowest - 1, native.highest + 1):
        edge = native.upper_edge(index)
        assert native.index(edge) == expected_index(edge, schema) == index
        above = math.nextafter(edge, math.inf)
        assert native.index(above) == expected_index(above, schema) == index + 1
    assert native.upper_edges[0] == native.zero_threshold
    assert len(native.upper_edges) == native.cell_count


# Bounds that fall inside native buckets, on their edges, at the zero threshold and past
# the top, so that the shortcut from a native bucket to its classic one is tested where
# it must not be taken as well as where it is.
STRADDLING = (2.0**-20, 0.001, 0.0010001, 0.0011, 0.25, 0.3, 1.0, 4095.0, 5000.0)


@pytest.mark.parametrize("bounds", [BUCKETS, STRADDLING, (0.0, 0.5), (7.0,)])
def test_a_native_observation_lands_in_the_classic_bucket_a_search_gives(
    bounds: tuple[float, ...],
) -> None:
    registry = MetricsRegistry()
    family = registry.histogram(
        "t_seconds", "T.", ("n",), buckets=bounds, native=NativeBuckets(), max_series=10**5
    )
    rng = random.Random(len(bounds))  # noqa: S311 (test data, not secrets)
    values = [0.0, 2.0**-21, math.inf, *(math.exp(rng.uniform(-16.0, 9.0)) for _ in range(2000))]
    for bound in (*bounds, *NativeBuckets().upper_edges[:-1]):
        values += [bound, math.nextafter(bound, 0.0), math.nextafter(bound, math.inf)]
    for number, value in enumerate(values):
        child = family.labels(str(number))
        child.observe(value)
        assert child.bucket_counts.index(1) == bisect.bisect_left(bounds, value), value


def native_child(registry: MetricsRegistry, native: NativeBuckets) -> NativeHistogramChild:
    family = registry.histogram("t_seconds", "T.", ("route",), buckets=BUCKETS, native=native)
    child = family.labels("/a")
    assert isinstance(child, NativeHistogramChild)
    return child


def test_observations_count_in_native_buckets_the_zero_bucket_and_the_top() -> None:
    native = NativeBuckets(schema=2, smallest=0.001, largest=10.0)
    child = native_child(MetricsRegistry(), native)
    low, high = native.lowest, native.highest
    inside = [0.0015, 0.05, 0.05, 0.7, 3.0, 9.9]
    for value in [*inside, 0.0, native.zero_threshold / 2, 11.0, 1e9, math.inf]:
        child.observe(value)
    expected = Counter(expected_index(value, 2) for value in inside)
    expected[high] += 3  # 11, 1e9 and +Inf count in the top bucket
    assert child.native_counts == [float(expected[i]) for i in range(low, high + 1)]
    assert child.zero_count == 2
    assert native.zero_threshold == 2 ** ((low - 1) / 4) < 0.001
    assert child.count == 11
    assert child.bucket_counts == [3, 2, 1, 5]  # the classic buckets, +Inf last


def test_classic_buckets_and_the_text_format_are_unchanged() -> None:
    with_native, classic = MetricsRegistry(), MetricsRegistry()
    for registry, native in ((with_native, NativeBuckets()), (classic, None)):
        family = registry.histogram("t_seconds", "T.", ("route",), buckets=BUCKETS, native=native)
        for value in (0.0, 0.004, 0.05, 0.5, 7.0):
            family.labels("/a").observe(value, {"trace_id": "ab"})
    assert render(with_native) == render(classic)
    assert "t_seconds_bucket" in render(with_native).decode()


def test_bad_values_and_settings_are_refused_with_the_reason() -> None:
    child = native_child(MetricsRegistry(), NativeBuckets())
    for value in (-0.001, math.nan):
        with pytest.raises(ValueError, match="native histograms count values >= 0"):
            child.observe(value)
    assert child.count == 0
    with pytest.raises(ValueError, match=r"first bucket is -1\.0"):
        MetricsRegistry().histogram("t", "T.", buckets=(-1.0, 1.0), native=NativeBuckets())
    with pytest.raises(ValueError, match="schema must be 0 to 8, got 9"):
        NativeBuckets(schema=9)
    with pytest.raises(ValueError, match="0 < smallest < largest"):
        NativeBuckets(smallest=2.0, largest=1.0)
    with pytest.raises(ValueError, match="max_buckets must be at least 1, got 0"):
        NativeBuckets(max_buckets=0)


def expand(schema: int, spans: list[tuple[int, int]], deltas: list[int]) -> dict[int, int]:
    """Absolute counts of the populated buckets from spans and deltas, as Prometheus reads
    them; empty buckets inside a span (a short gap) are left out."""
    counts: dict[int, int] = {}
    index, count, position = 0, 0, 0
    for number, (offset, length) in enumerate(spans):
        index = offset if number == 0 else index + offset + 1
        for step in range(length):
            if step:
                index += 1
            count += deltas[position]
            position += 1
            counts[index] = count
    assert position == len(deltas)
    return {index: count for index, count in counts.items() if count}


def lowered(counts: dict[int, int], steps: int) -> dict[int, int]:
    """``counts`` ``steps`` schemas lower: bucket k holds buckets 2k-1 and 2k of the one above."""
    for _ in range(steps):
        halved: Counter[int] = Counter()
        for index, count in counts.items():
            halved[math.ceil(index / 2)] += count
        counts = dict(halved)
    return counts


def test_the_schema_is_lowered_until_the_populated_buckets_fit_the_budget() -> None:
    rng = random.Random(7)  # noqa: S311 (test data, not secrets)
    counts = [float(rng.choice([0, 0, 1, 3, 40])) for _ in range(300)]
    at_full = {-50 + offset: int(n) for offset, n in enumerate(counts) if n}
    assert len(at_full) > 100
    for budget in (1000, 100, 40, 10, 2):
        schema, spans, deltas = sparse(counts, -50, 5, budget)
        # The highest schema whose populated buckets fit the budget, and no lower.
        assert len(lowered(at_full, 5 - schema)) <= budget
        assert schema == 5 or budget < len(lowered(at_full, 4 - schema))
        assert expand(schema, spans, deltas) == lowered(at_full, 5 - schema)
        # A new span only after three or more empty buckets.
        assert all(offset >= 3 for offset, _ in spans[1:])
    assert sparse(counts, -50, 5, 1)[0] == -4  # Prometheus's lowest schema: it stops there
    assert sparse([0.0] * 10, 0, 3, 160) == (3, [], [])


def define_native(registry: MetricsRegistry) -> None:
    native = NativeBuckets(schema=3, max_buckets=20)
    registry.histogram("job_seconds", "Job time.", ("kind",), buckets=BUCKETS, native=native)


def observing(values: list[float]) -> Job:
    def job(registry: MetricsRegistry) -> None:
        for value in values:
            registry.families["job_seconds"].labels("k").observe(value)

    return job


def test_workers_merge_natively_exactly_and_the_merged_series_fits_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each worker alone fits 20 buckets at schema 3; together they need a lower schema."""
    fast = [0.001 * 1.1**k for k in range(15)]  # 15 buckets near 1 ms
    slow = [0.5 * 1.1**k for k in range(15)]  # 15 buckets near 0.5 s
    # The forked workers define their families as the app's code would: natively.
    monkeypatch.setattr("tests.metrics.multiprocess.test_directory.define", define_native)
    lingering, lingering_done = fork_worker(tmp_path, observing([*fast, 0.0]), linger=True)
    killed, killed_done = fork_worker(tmp_path, observing(slow * 2), linger=True)
    wait_done(lingering_done)
    wait_done(killed_done)
    end(killed, kill=True)  # SIGKILLed: its counts must survive it
    try:
        reader = MetricsRegistry(storage=WorkerMetrics(tmp_path))
        define_native(reader)
        (family,) = [f for f in reader.families_to_render() if f.name == "job_seconds"]
        (child,) = family.samples_children()
        assert isinstance(child, NativeHistogramChild)
        native = child.native
        expected = Counter(expected_index(v, 3) for v in fast + slow * 2)
        assert child.native_counts == [
            float(expected[i]) for i in range(native.lowest, native.highest + 1)
        ]
        assert child.zero_count == 1
        assert child.count == 1 + len(fast) + 2 * len(slow)
        schema, spans, deltas = sparse(child.native_counts, native.lowest, 3, 20)
        assert schema < 3
        assert expand(schema, spans, deltas) == lowered(dict(expected), 3 - schema)
    finally:
        end(lingering, kill=True)
