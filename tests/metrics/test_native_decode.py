"""Native histograms in the protobuf exposition, read back by an independent decoder.

The decoder is the protobuf package's, generated from packages/folio-metrics/proto
(bench/proto/metrics_pb2.py, `make proto`). The expected buckets come from the definition
of a native bucket, not from folio_metrics: bucket i of schema s holds the values in
(2**((i-1)/2**s), 2**(i/2**s)].
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import reduce
from operator import add
from pathlib import Path

from bench.proto import metrics_pb2
from folio_metrics import MetricsRegistry
from folio_metrics.native import NativeBuckets
from folio_metrics.protobuf import render_protobuf
from google.protobuf.unknown_fields import UnknownFieldSet

ROOT = Path(__file__).resolve().parents[2]
NAME = "job_duration_seconds"
BOUNDS = (0.01, 0.1, 1.0, 10.0)
SCHEMA = 3
NATIVE = NativeBuckets(schema=SCHEMA)  # zero threshold 2**(-161/8), top bucket 2**12
ZERO_THRESHOLD = 2.0 ** (-161 / 8)
TOP_BUCKET = 96  # 2**12 = 2**(96/8)
# Zero, below and at the zero threshold, a sweep over several powers of two with a few
# exact bucket edges (0.25, 0.5, 1, 2, 4) and a value past `largest`.
VALUES = (
    *(0.0, 1e-9, ZERO_THRESHOLD, 1.5e-6, 0.0009, 0.003, 0.0031, 0.05, 0.25, 0.25, 0.26, 0.5),
    *(0.7, 1.0, 1.0, 1.0001, 1.5, 2.0, 3.3, 4.0, 17.0, 300.0, 5000.0),
)
EXEMPLARS = {0.003: "t-small", 0.26: "t-mid", 17.0: "t-slow"}


def bucket_index(value: float, schema: int) -> int:
    """The i with 2**((i-1)/2**s) < value <= 2**(i/2**s), straight from the definition."""
    per_power = 2**schema
    index = math.ceil(math.log2(value) * per_power)
    while 2.0 ** ((index - 1) / per_power) >= value:
        index -= 1
    while 2.0 ** (index / per_power) < value:
        index += 1
    return index


def delimited(body: bytes) -> Iterator[metrics_pb2.MetricFamily]:
    """Each MetricFamily of a delimited stream: a varint length, then the message."""
    position = 0
    while position < len(body):
        length = shift = 0
        while True:
            byte = body[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        family = metrics_pb2.MetricFamily()
        family.ParseFromString(body[position : position + length])
        position += length
        yield family
    assert position == len(body), "the last message runs past the end of the stream"


def the_histogram(registry: MetricsRegistry) -> metrics_pb2.Histogram:
    """The one series of NAME, decoded, with no field the schema does not know."""
    (family,) = [f for f in delimited(render_protobuf(registry)) if f.name == NAME]
    assert family.type == metrics_pb2.HISTOGRAM
    (metric,) = family.metric
    assert [(pair.name, pair.value) for pair in metric.label] == [("job", "nightly")]
    histogram = metric.histogram
    for message in (family, metric, histogram, *histogram.positive_span, *histogram.bucket):
        assert len(UnknownFieldSet(message)) == 0
    return histogram


def expanded(histogram: metrics_pb2.Histogram) -> dict[int, int]:
    """Spans and deltas as each populated bucket's absolute count, by index (a short gap
    may be sent as empty buckets inside a span: those are left out)."""
    counts: dict[int, int] = {}
    deltas = iter(histogram.positive_delta)
    index = count = 0
    for number, span in enumerate(histogram.positive_span):
        index = span.offset if number == 0 else index + span.offset
        for _ in range(span.length):
            count += next(deltas)
            counts[index] = count
            index += 1
    assert next(deltas, None) is None, "more deltas than the spans cover"
    return {index: count for index, count in counts.items() if count}


def fed(native: NativeBuckets, values: Sequence[float], *, exemplars: bool) -> MetricsRegistry:
    registry = MetricsRegistry()
    family = registry.histogram(NAME, "Jobs.", ("job",), buckets=BOUNDS, native=native)
    child = family.labels("nightly")
    for value in values:
        trace = EXEMPLARS.get(value) if exemplars else None
        child.observe(value, {"trace_id": trace} if trace else None)
    return registry


def test_native_buckets_decode_to_the_definition() -> None:
    """Schema, zero bucket, spans and deltas match the definition; classic parts as ever."""
    histogram = the_histogram(fed(NATIVE, VALUES, exemplars=True))
    assert histogram.schema == SCHEMA
    assert histogram.zero_threshold == ZERO_THRESHOLD
    assert histogram.zero_count == sum(1 for v in VALUES if v <= ZERO_THRESHOLD) == 3
    expected = Counter(
        min(bucket_index(v, SCHEMA), TOP_BUCKET) for v in VALUES if v > ZERO_THRESHOLD
    )
    assert expanded(histogram) == dict(expected)
    assert TOP_BUCKET in expected
    assert len(histogram.positive_span) > 1
    # The sum and count are shared with the classic buckets, which are unchanged.
    assert histogram.sample_count == len(VALUES)
    assert histogram.sample_sum == reduce(add, VALUES, 0.0)  # added in order, as observed
    classic = [(b.upper_bound, b.cumulative_count) for b in histogram.bucket]
    assert classic == [
        (bound, sum(1 for v in VALUES if v <= bound)) for bound in (*BOUNDS, math.inf)
    ]


def test_native_exemplars_carry_timestamps() -> None:
    """Each exemplar kept is in the native exemplars field, with its value and a timestamp."""
    histogram = the_histogram(fed(NATIVE, VALUES, exemplars=True))
    native = {
        (e.label[0].name, e.label[0].value, e.value, e.HasField("timestamp"))
        for e in histogram.exemplars
    }
    assert native == {("trace_id", trace, value, True) for value, trace in EXEMPLARS.items()}
    assert all(e.timestamp.seconds > 1_600_000_000 for e in histogram.exemplars)
    by_bucket = {b.exemplar.value for b in histogram.bucket if b.HasField("exemplar")}
    assert by_bucket == set(EXEMPLARS)
    assert not the_histogram(fed(NATIVE, VALUES, exemplars=False)).exemplars


def test_a_small_budget_lowers_the_schema_and_keeps_every_count() -> None:
    """Over max_buckets, the schema drops to the highest that fits, and no count is lost."""
    values = [v for v in VALUES if ZERO_THRESHOLD < v < 2.0**12]
    histogram = the_histogram(
        fed(NativeBuckets(schema=SCHEMA, max_buckets=4), values, exemplars=False)
    )
    schema = histogram.schema
    assert schema < SCHEMA
    counts = expanded(histogram)
    assert len(counts) <= 4
    assert counts == dict(Counter(bucket_index(v, schema) for v in values))
    assert len({bucket_index(v, schema + 1) for v in values}) > 4  # one step finer is over
    assert sum(counts.values()) + histogram.zero_count == histogram.sample_count == len(values)


def test_an_empty_native_histogram_is_still_native() -> None:
    """No observation yet: one empty span marks the series as native, not classic."""
    registry = MetricsRegistry()
    registry.histogram(NAME, "Jobs.", ("job",), buckets=BOUNDS, native=NATIVE).labels("nightly")
    histogram = the_histogram(registry)
    assert histogram.sample_count == histogram.zero_count == 0
    assert [(s.offset, s.length) for s in histogram.positive_span] == [(0, 0)]
    assert not histogram.positive_delta


def test_the_generated_decoder_is_made_from_the_proto(tmp_path: Path) -> None:
    """bench/proto/metrics_pb2.py is what `make proto` makes of metrics.proto today."""
    proto = ROOT / "packages" / "folio-metrics" / "proto"
    command = [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto}"]
    command += [f"--python_out={tmp_path}", str(proto / "metrics.proto")]
    subprocess.run(command, check=True, timeout=60)
    generated = (tmp_path / "metrics_pb2.py").read_text()
    assert generated == (ROOT / "bench" / "proto" / "metrics_pb2.py").read_text(), "make proto"
