"""Randomized metric sets: folio's renderer against prometheus_client's, through its parsers."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from folio_metrics import MetricsRegistry, render
from folio_metrics.multiprocess import MetricsDirectory, WorkerMetrics
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda name: not name.endswith(("_total", "_count", "_sum", "_bucket", "_created", "_info"))
)
LABEL_VALUES = st.text(max_size=12)  # any unicode: quotes, backslashes, newlines included
NUMBERS = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
AMOUNTS = st.floats(min_value=0, max_value=1e9, allow_nan=False)
BUCKETS = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=6, unique=True
).map(sorted)


@dataclass
class FamilySpec:
    kind: str
    name: str
    label_names: tuple[str, ...]
    buckets: list[float]
    # label values -> the values recorded (inc amounts, gauge sets, or observations)
    series: dict[tuple[str, ...], list[float]]


@st.composite
def family_specs(draw: st.DrawFn) -> list[FamilySpec]:
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    specs = []
    for index, name in enumerate(names):
        kind = draw(st.sampled_from(["counter", "gauge", "histogram"]))
        labels = tuple(draw(st.lists(NAMES, max_size=3, unique=True)))
        labels = tuple(f"{label}_{index}" for label in labels)  # never 'le'
        values = AMOUNTS if kind == "counter" else NUMBERS
        recorded = st.lists(values, min_size=1, max_size=4)
        if labels:
            label_sets = st.tuples(*[LABEL_VALUES] * len(labels))
            series = draw(st.dictionaries(label_sets, recorded, max_size=4))
        else:  # prometheus_client shows an unlabelled metric from the start; folio on first use
            series = {(): draw(recorded)}
        specs.append(FamilySpec(kind, f"{name}_{index}", labels, draw(BUCKETS), series))
    return specs


def observable(spec: FamilySpec, value: float) -> bool:
    """Negative observations only go into histograms that have negative buckets."""
    return value >= 0 or spec.buckets[0] < 0


def build_folio(specs: list[FamilySpec], registry: MetricsRegistry) -> MetricsRegistry:
    for spec in specs:
        if spec.kind == "counter":
            counter = registry.counter(spec.name, f"help {spec.name}", spec.label_names)
            for labels, amounts in spec.series.items():
                for amount in amounts:
                    counter.labels(*labels).inc(amount)
        elif spec.kind == "gauge":
            gauge = registry.gauge(spec.name, f"help {spec.name}", spec.label_names)
            for labels, values in spec.series.items():
                for value in values:
                    gauge.labels(*labels).set(value)
        else:
            histogram = registry.histogram(
                spec.name, f"help {spec.name}", spec.label_names, buckets=spec.buckets
            )
            for labels, values in spec.series.items():
                child = histogram.labels(*labels)  # shown even if nothing is observable
                for value in filter(lambda value: observable(spec, value), values):
                    child.observe(value)
    return registry


def build_client(specs: list[FamilySpec]) -> CollectorRegistry:
    registry = CollectorRegistry()
    for spec in specs:
        if spec.kind == "counter":
            counter = Counter(spec.name, f"help {spec.name}", spec.label_names, registry=registry)
            for labels, amounts in spec.series.items():
                for amount in amounts:
                    (counter.labels(*labels) if labels else counter).inc(amount)
        elif spec.kind == "gauge":
            gauge = Gauge(spec.name, f"help {spec.name}", spec.label_names, registry=registry)
            for labels, values in spec.series.items():
                for value in values:
                    (gauge.labels(*labels) if labels else gauge).set(value)
        else:
            histogram = Histogram(
                spec.name,
                f"help {spec.name}",
                spec.label_names,
                buckets=spec.buckets,
                registry=registry,
            )
            for labels, values in spec.series.items():
                child = histogram.labels(*labels) if labels else histogram
                for value in filter(lambda value: observable(spec, value), values):
                    child.observe(value)
    return registry


Samples = set[tuple[str, tuple[tuple[str, str], ...], float]]


def samples(text: str, *, openmetrics: bool = False) -> Samples:
    """Every sample except folio's self-metrics and prometheus_client's _created ones."""
    families = list(parse_openmetrics(text) if openmetrics else parse_text(text))
    found: Samples = set()
    for family in families:
        if family.name.startswith("folio_metrics"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = {key: value for key, value in sample.labels.items()}
            if "le" in labels:  # one float, however it is spelled
                labels["le"] = repr(float(labels["le"]))
            value = 0.0 if sample.value == 0 else sample.value
            found.add((sample.name, tuple(sorted(labels.items())), _rounded(value)))
    return found


def _rounded(value: float) -> float:
    return value if math.isinf(value) else float(f"{value:.12g}")


@settings(max_examples=60, deadline=None)
@given(family_specs())
def test_text_output_parses_into_prometheus_clients_samples(specs: list[FamilySpec]) -> None:
    """Random families render to exactly the samples prometheus_client renders for them."""
    folio = render(build_folio(specs, MetricsRegistry())).decode()
    expected = samples(generate_latest(build_client(specs)).decode())
    assert samples(folio) == expected


@settings(max_examples=60, deadline=None)
@given(family_specs())
def test_openmetrics_output_parses_with_the_same_samples(specs: list[FamilySpec]) -> None:
    """The OpenMetrics rendering parses strictly and carries the same samples as the text."""
    registry = build_folio(specs, MetricsRegistry())
    openmetrics = render(registry, openmetrics=True).decode()
    assert openmetrics.endswith("# EOF\n")
    # OpenMetrics has no _count where it may have no _sum: histograms with negative buckets.
    without_count = {
        f"{spec.name}_count" for spec in specs if spec.kind == "histogram" and spec.buckets[0] < 0
    }
    text_samples = {sample for sample in samples(render(registry).decode())}
    expected = {sample for sample in text_samples if sample[0] not in without_count}
    assert samples(openmetrics, openmetrics=True) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(family_specs())
def test_a_worker_of_many_renders_what_a_single_process_renders(specs: list[FamilySpec]) -> None:
    """Through the shared directory and the merged view, the samples are the same."""
    with tempfile.TemporaryDirectory() as directory:
        MetricsDirectory.reset(Path(directory))
        shared = MetricsRegistry(storage=WorkerMetrics(Path(directory)))
        shared_text = render(build_folio(specs, shared)).decode()
    alone = render(build_folio(specs, MetricsRegistry())).decode()
    assert samples(shared_text) == samples(alone)
