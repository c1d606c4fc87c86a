"""The protobuf package's encoder of a histogram family, to race folio_metrics' own.

It builds the generated io.prometheus.client messages from the family's children, the way a
library depending on protobuf would at each scrape, and serializes them delimited. It reads
the same cells and lowers the schema with the same ``sparse`` as folio_metrics, so that the
two outputs can be compared byte for byte and only the encoding differs in the timing.
Exemplars are left out: the benchmark's series have none. ``race`` times both encoders.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from itertools import accumulate
from typing import Any

from folio_metrics.children import NativeHistogramChild
from folio_metrics.families import HistogramFamily
from folio_metrics.native import DEFAULT_NATIVE, sparse
from folio_metrics.protobuf import protobuf_chunks
from folio_metrics.registry import MetricsRegistry
from google.protobuf.internal.encoder import _VarintBytes

from bench.common import median, paired_ratios
from bench.proto import metrics_pb2
from bench.scrape import timed

Encoder = Callable[[HistogramFamily], bytes]


def _delimited(family: metrics_pb2.MetricFamily) -> bytes:
    body = family.SerializeToString()
    return bytes(_VarintBytes(len(body))) + body


def encode_by_field(source: HistogramFamily) -> bytes:
    """One MetricFamily, each field set on messages added in place (``.add()``)."""
    family = metrics_pb2.MetricFamily(
        name=source.sample_name, help=source.documentation, type=metrics_pb2.HISTOGRAM
    )
    names = source.label_names
    bounds = (*source.bounds, math.inf)
    for child in list(source.samples_children()):
        cells = list(child.cells)
        metric = family.metric.add()
        for name, value in zip(names, child.label_values, strict=True):
            pair = metric.label.add()
            pair.name = name
            pair.value = value
        histogram = metric.histogram
        cumulative = list(accumulate(int(count) for count in cells[: len(bounds)]))
        histogram.sample_count = cumulative[-1]
        histogram.sample_sum = cells[-1]
        for count, bound in zip(cumulative, bounds, strict=True):
            bucket = histogram.bucket.add()
            bucket.cumulative_count = count
            bucket.upper_bound = bound
        if isinstance(child, NativeHistogramChild):
            native = child.native
            zero = len(child.bounds) + 1
            schema, spans, deltas = sparse(
                cells[zero + 1 : -1], native.lowest, native.schema, native.max_buckets
            )
            histogram.schema = schema
            histogram.zero_threshold = native.zero_threshold
            histogram.zero_count = int(cells[zero])
            for offset, length in spans or [(0, 0)]:
                span = histogram.positive_span.add()
                span.offset = offset
                span.length = length
            histogram.positive_delta.extend(deltas)
    return _delimited(family)


def encode_by_constructor(source: HistogramFamily) -> bytes:
    """One MetricFamily, built bottom-up with keyword constructors."""
    names = source.label_names
    bounds = (*source.bounds, math.inf)
    metrics = []
    for child in list(source.samples_children()):
        cells = list(child.cells)
        cumulative = list(accumulate(int(count) for count in cells[: len(bounds)]))
        histogram = metrics_pb2.Histogram(
            sample_count=cumulative[-1],
            sample_sum=cells[-1],
            bucket=[
                metrics_pb2.Bucket(cumulative_count=count, upper_bound=bound)
                for count, bound in zip(cumulative, bounds, strict=True)
            ],
        )
        if isinstance(child, NativeHistogramChild):
            native = child.native
            zero = len(child.bounds) + 1
            schema, spans, deltas = sparse(
                cells[zero + 1 : -1], native.lowest, native.schema, native.max_buckets
            )
            histogram.schema = schema
            histogram.zero_threshold = native.zero_threshold
            histogram.zero_count = int(cells[zero])
            histogram.positive_span.extend(
                metrics_pb2.BucketSpan(offset=offset, length=length)
                for offset, length in spans or [(0, 0)]
            )
            histogram.positive_delta.extend(deltas)
        labels = [
            metrics_pb2.LabelPair(name=name, value=value)
            for name, value in zip(names, child.label_values, strict=True)
        ]
        metrics.append(metrics_pb2.Metric(label=labels, histogram=histogram))
    family = metrics_pb2.MetricFamily(
        name=source.sample_name,
        help=source.documentation,
        type=metrics_pb2.HISTOGRAM,
        metric=metrics,
    )
    return _delimited(family)


ENCODERS: dict[str, Encoder] = {
    "by_field": encode_by_field,
    "by_constructor": encode_by_constructor,
}


def repeat(
    functions: Mapping[str, Callable[[], bytes]], repetitions: int
) -> dict[str, list[float]]:
    """Each function timed ``repetitions`` times, their order rotating every repetition."""
    names = list(functions)
    times: dict[str, list[float]] = {name: [] for name in names}
    for repetition in range(repetitions):
        shift = repetition % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(functions[name])[0])
    return times


def sparse_only(family: HistogramFamily) -> bytes:
    """What both encoders share: reading each series' cells and choosing its schema."""
    native = DEFAULT_NATIVE  # what bench.native counts with
    zero = len(family.bounds) + 1
    for child in list(family.samples_children()):
        sparse(list(child.cells)[zero + 1 : -1], native.lowest, native.schema, native.max_buckets)
    return b""


def race(registry: MetricsRegistry, family: HistogramFamily, repetitions: int) -> dict[str, Any]:
    """folio_metrics' encoder against each of the package's, on one native ``family``; the
    outputs are compared byte for byte first."""
    functions: dict[str, Callable[[], bytes]] = {
        "folio_metrics": lambda: b"".join(protobuf_chunks(registry, [family], bridged=b"")),
        **{f"protobuf_{name}": partial(encode, family) for name, encode in ENCODERS.items()},
    }
    bodies = {name: function() for name, function in functions.items()}
    identical = len(set(bodies.values())) == 1
    times = repeat(functions | {"sparse": partial(sparse_only, family)}, repetitions)
    row: dict[str, Any] = {f"{name}_ms": round(median(runs), 2) for name, runs in times.items()}
    # The quickest run of each is the least disturbed by whatever else shares the CPU.
    row |= {f"{name}_best_ms": round(min(runs), 2) for name, runs in times.items()}
    fastest = min(ENCODERS, key=lambda name: median(times[f"protobuf_{name}"]))
    ratio = paired_ratios(times["folio_metrics"], times[f"protobuf_{fastest}"])
    quickest = min(times[f"protobuf_{fastest}"]) / min(times["folio_metrics"])
    return row | {
        "repetitions": repetitions,
        "protobuf_fastest": fastest,
        "protobuf_over_folio_quickest": round(quickest, 3),
        "protobuf_over_folio": {key: round(value, 3) for key, value in ratio.items()},
        "identical_bytes": identical,
        "bytes": len(bodies["folio_metrics"]),
        "runs_ms": {name: [round(value, 2) for value in runs] for name, runs in times.items()},
    }


def race_lines(rows: dict[str, Any]) -> list[str]:
    """Markdown for ``race``'s rows by series count, and which encoder the library keeps."""
    lines = [
        "",
        "Encoding the native series: folio_metrics' hand-written encoder against the protobuf "
        "package's (messages generated by `make proto`), both from the same cells and the same "
        "schema choice, whose share is the last column. Median (quickest) ms; package / "
        "folio_metrics is the median (range) of per-repetition ratios, then the ratio of the "
        "quickest runs, the least disturbed by whatever else shares the CPU.",
        "",
        "| series | folio_metrics | protobuf package | package / folio_metrics | quickest "
        "| same bytes | cells + schema |",
        "| ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for series, row in rows.items():
        package = f"protobuf_{row['protobuf_fastest']}"
        ratio = row["protobuf_over_folio"]
        lines.append(
            f"| {int(series):,} | {row['folio_metrics_ms']:.1f} "
            f"({row['folio_metrics_best_ms']:.1f}) | {row[f'{package}_ms']:.1f} "
            f"({row[f'{package}_best_ms']:.1f}) | {ratio['median']:.2f} "
            f"({ratio['min']:.2f}-{ratio['max']:.2f}) | {row['protobuf_over_folio_quickest']:.2f} "
            f"| {'yes' if row['identical_bytes'] else 'no'} | {row['sparse_ms']:.1f} |"
        )
    largest = rows[max(rows, key=int)]
    median_ratio = largest["protobuf_over_folio"]["median"]
    quickest = largest["protobuf_over_folio_quickest"]
    verdict = (
        f"folio_metrics keeps its own encoder: at {int(max(rows, key=int)):,} series the "
        f"package's took {median_ratio:.2f} times as long (quickest runs: {quickest:.2f})."
        if median_ratio >= 1 and quickest >= 1
        else f"The package's encoder was not slower here (median ratio {median_ratio:.2f}, "
        f"quickest {quickest:.2f}); folio_metrics encodes by hand so as not to depend on "
        "protobuf at run time."
    )
    return [*lines, "", verdict]
