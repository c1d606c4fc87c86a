"""Render a registry as Prometheus's protobuf exposition: delimited MetricFamily messages.

The messages follow client_model's io/prometheus/client/metrics.proto (proto2), encoded by
hand: each MetricFamily is preceded by its length as a varint. Counters are named as their
samples are (``..._total``), since Prometheus takes a protobuf family's name as is.
Histograms carry their classic buckets, +Inf included, and a native histogram's schema,
zero bucket, spans and deltas after them.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from itertools import accumulate

from prometheus_client.metrics_core import Metric as ClientMetric
from prometheus_client.samples import Exemplar as ClientExemplar
from prometheus_client.samples import Sample

from folio_metrics.children import Exemplar, NativeHistogramChild
from folio_metrics.exposition import SERIES_PER_CHUNK, collect
from folio_metrics.families import CounterFamily, GaugeFamily, HistogramFamily
from folio_metrics.native import sparse
from folio_metrics.registry import Family, MetricsRegistry

# The media type of the delimited MetricFamily stream, as Prometheus asks for it in Accept.
PROTOBUF_CONTENT_TYPE = (
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
)

# MetricType values.
COUNTER, GAUGE, SUMMARY, UNTYPED, HISTOGRAM, GAUGE_HISTOGRAM = range(6)
# Metric's fields holding the value, by type: gauge=2, counter=3, summary=4, untyped=5,
# histogram=7 (all length-delimited, so wire type 2).
_VALUE_TAG = {COUNTER: b"\x1a", GAUGE: b"\x12", SUMMARY: b"\x22", UNTYPED: b"\x2a"}
_HISTOGRAM_TAG = b"\x3a"
_KINDS = {"counter": COUNTER, "gauge": GAUGE, "histogram": HISTOGRAM}
_TIMESTAMP_MS_TAG = b"\x30"  # Metric.timestamp_ms = 6, varint
_DOUBLE_1 = b"\x09"  # field 1, fixed64: Gauge/Counter/Untyped.value, Quantile.quantile
_DOUBLE_2 = b"\x11"  # field 2, fixed64: Histogram/Summary.sample_sum, Bucket.upper_bound...
_UINT_1 = b"\x08"  # field 1, varint: sample_count, cumulative_count, Timestamp.seconds
_NANOS = b"\x10"  # Timestamp.nanos = 2, varint
_LEN_1 = b"\x0a"  # field 1, length-delimited: names, LabelPair.name, Exemplar.label...
_LEN_2 = b"\x12"  # field 2: MetricFamily.help, LabelPair.value, Counter.exemplar
_LEN_3 = b"\x1a"  # field 3: Histogram.bucket, Bucket.exemplar, Exemplar.timestamp...
_FAMILY_TYPE = b"\x18"  # MetricFamily.type = 3, varint
_FAMILY_METRIC = b"\x22"  # MetricFamily.metric = 4
# Histogram's native fields: schema = 5 (sint32), zero_threshold = 6 (double), zero_count
# = 7 (uint64), positive_span = 12 (BucketSpan), positive_delta = 13 (sint64, sent packed),
# exemplars = 16. BucketSpan: offset = 1 (sint32), length = 2 (uint32).
_SCHEMA = b"\x28"
_ZERO_THRESHOLD = b"\x31"
_ZERO_COUNT = b"\x38"
_POSITIVE_SPAN = b"\x62"
_POSITIVE_DELTA = b"\x6a"
_NATIVE_EXEMPLAR = b"\x82\x01"
_SPAN_OFFSET = b"\x08"
_SPAN_LENGTH = b"\x10"
_NO_SPAN = _POSITIVE_SPAN + b"\x04" + _SPAN_OFFSET + b"\x00" + _SPAN_LENGTH + b"\x00"

_pack_double = struct.Struct("<d").pack
# Most lengths and counts are small: their varints are looked up, not built.
_SMALL = [bytes([n]) if n < 0x80 else bytes([(n & 0x7F) | 0x80, n >> 7]) for n in range(1 << 14)]


# Histogram.bucket's tag, the Bucket's length (a count field, its varint, an upper_bound
# field) and the count's tag, by the length of the count's varint.
_BUCKET_HEADS = {n: _LEN_3 + bytes([1 + n + 9]) + _UINT_1 for n in range(1, 11)}


def _varint(value: int) -> bytes:
    if 0 <= value < 16384:
        return _SMALL[value]
    value &= (1 << 64) - 1  # int64 below zero: ten bytes of two's complement
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _zigzag(value: int) -> bytes:
    return _varint(value << 1 if value >= 0 else ((-value) << 1) - 1)


# Bucket deltas are mostly small: their zigzag varints are looked up, by value + 8192.
_SMALL_ZIGZAG = [_zigzag(n) for n in range(-8192, 8192)]


def _zigzags(values: list[int]) -> bytes:
    table = _SMALL_ZIGZAG
    return b"".join([table[v + 8192] if -8192 <= v < 8192 else _zigzag(v) for v in values])


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _text(tag: bytes, text: str) -> bytes:
    return _field(tag, text.encode())


def _pairs(names: Sequence[str], values: Sequence[str]) -> bytes:
    """Repeated LabelPair fields (field 1 of both Metric and Exemplar)."""
    return b"".join(
        _field(_LEN_1, _text(_LEN_1, name) + _text(_LEN_2, value))
        for name, value in zip(names, values, strict=True)
    )


# A series' labels are encoded once and reused by every scrape; exemplars' labels (trace
# ids) change each time, so they bypass this.
_label_pairs = lru_cache(maxsize=1 << 16)(_pairs)


def _exemplar(labels: Mapping[str, str], value: float, timestamp: float | None) -> bytes:
    pairs = _pairs(tuple(labels), tuple(labels.values()))
    body = pairs + _DOUBLE_2 + _pack_double(value)
    if timestamp is not None:
        seconds = math.floor(timestamp)
        nanos = min(round((timestamp - seconds) * 1e9), 999_999_999)
        body += _field(_LEN_3, _UINT_1 + _varint(seconds) + _NANOS + _varint(nanos))
    return body


def _family(name: str, documentation: str, kind: int, metrics: list[bytes]) -> bytes:
    body = b"".join(
        [
            _text(_LEN_1, name),
            _text(_LEN_2, documentation),
            _FAMILY_TYPE,
            _SMALL[kind],
            *[_FAMILY_METRIC + _varint(len(metric)) + metric for metric in metrics],
        ]
    )
    return _varint(len(body)) + body


def protobuf_chunks(
    registry: MetricsRegistry,
    families: list[Family],
    *,
    series_per_chunk: int = SERIES_PER_CHUNK,
    bridged: bytes | None = None,
) -> Iterator[bytes]:
    """``families`` encoded, pausing every ``series_per_chunk`` series as the text renderer
    does (a paused family is sent whole, when done); the bridged collectors come last."""
    out: list[bytes] = []
    written = 0
    for family in families:
        metrics: list[bytes] = []
        series = _histogram(family) if isinstance(family, HistogramFamily) else _scalar(family)
        for metric in series:
            metrics.append(metric)
            written += 1
            if written == series_per_chunk:
                yield b"".join(out)
                out.clear()
                written = 0
        if metrics:  # a family without series is left out, as client_golang does
            kind = _KINDS[family.kind]
            out.append(_family(family.sample_name, family.documentation, kind, metrics))
    if bridged is None:
        bridged = encode_bridged(registry)
    yield b"".join(out) + bridged


def render_protobuf(registry: MetricsRegistry) -> bytes:
    """Every family in ``registry`` plus its bridged collectors, as delimited protobuf."""
    return b"".join(protobuf_chunks(registry, collect(registry)))


def _scalar(family: CounterFamily | GaugeFamily) -> Iterator[bytes]:
    names = family.label_names
    if isinstance(family, CounterFamily):
        for counter in list(family.samples_children()):
            body = _DOUBLE_1 + _pack_double(counter.value)
            if (exemplar := counter.exemplar) is not None:
                body += _field(_LEN_2, _our_exemplar(exemplar))
            yield _label_pairs(names, counter.label_values) + _field(_VALUE_TAG[COUNTER], body)
        return
    for gauge in list(family.samples_children()):
        body = _DOUBLE_1 + _pack_double(gauge.value)
        yield _label_pairs(names, gauge.label_values) + _field(_VALUE_TAG[GAUGE], body)


def _our_exemplar(exemplar: Exemplar) -> bytes:
    return _exemplar(exemplar.labels, exemplar.value, exemplar.timestamp)


def _histogram(family: HistogramFamily) -> Iterator[bytes]:
    names = family.label_names
    # Each bucket's Bucket.upper_bound field, +Inf last, built once per family and scrape.
    bounds = [_DOUBLE_2 + _pack_double(bound) for bound in (*family.bounds, math.inf)]
    small = _SMALL
    for child in list(family.samples_children()):
        cells = list(child.cells)  # one read of the counts and the sum, consistent together
        cumulative = list(accumulate(int(count) for count in cells[: len(bounds)]))
        total = cumulative[-1]
        head = [_UINT_1, _varint(total), _DOUBLE_2, _pack_double(cells[-1])]
        if child.exemplars is None:
            # Without an exemplar a Bucket's header depends only on its count's length.
            buckets = [
                _BUCKET_HEADS[len(count)] + count + bound
                for count, bound in zip(
                    [small[c] if c < 16384 else _varint(c) for c in cumulative],
                    bounds,
                    strict=True,
                )
            ]
        else:
            buckets = [
                _field(_LEN_3, _bucket(count, bound, exemplar))
                for count, bound, exemplar in zip(cumulative, bounds, child.exemplars, strict=True)
            ]
        if isinstance(child, NativeHistogramChild):
            buckets.append(_native(child, cells))
        body = b"".join(head + buckets)
        yield _label_pairs(names, child.label_values) + _field(_HISTOGRAM_TAG, body)


def _native(child: NativeHistogramChild, cells: list[float]) -> bytes:
    """The native fields of ``child``, from ``cells`` as read once for the whole message."""
    native = child.native
    zero = len(child.bounds) + 1
    counts = cells[zero + 1 : -1]
    schema, spans, deltas = sparse(counts, native.lowest, native.schema, native.max_buckets)
    parts = [
        _SCHEMA,
        _zigzag(schema),
        _ZERO_THRESHOLD,
        _pack_double(native.zero_threshold),
        _ZERO_COUNT,
        _varint(int(cells[zero])),
    ]
    for offset, length in spans:
        span = _SPAN_OFFSET + _zigzag(offset) + _SPAN_LENGTH + _varint(length)
        parts.append(_field(_POSITIVE_SPAN, span))
    if not spans:
        parts.append(_NO_SPAN)
    if deltas:
        parts.append(_field(_POSITIVE_DELTA, _zigzags(deltas)))
    for exemplar in child.exemplars or ():
        if exemplar is not None:
            parts.append(_field(_NATIVE_EXEMPLAR, _our_exemplar(exemplar)))
    return b"".join(parts)


def _bucket(cumulative: int, bound: bytes, exemplar: Exemplar | None) -> bytes:
    bucket = _UINT_1 + _varint(cumulative) + bound
    if exemplar is not None:
        bucket += _field(_LEN_3, _our_exemplar(exemplar))
    return bucket


def encode_bridged(registry: MetricsRegistry) -> bytes:
    """The bridged prometheus_client collectors; nothing, counted, if one of them fails."""
    try:
        return b"".join(_bridged_family(metric) for metric in registry.bridged.collect())
    except Exception:
        registry.record_hook_error("bridged_collectors")
        return b""


def _bridged_family(metric: ClientMetric) -> bytes:
    """One prometheus_client metric as a MetricFamily, named as its text samples are."""
    kind = metric.type
    if kind in ("histogram", "gaugehistogram", "summary"):
        grouped = _grouped(metric)
        code = {"histogram": HISTOGRAM, "gaugehistogram": GAUGE_HISTOGRAM}.get(kind, SUMMARY)
        return _family(metric.name, metric.documentation, code, grouped) if grouped else b""
    name = {"counter": f"{metric.name}_total", "info": f"{metric.name}_info"}.get(kind, metric.name)
    code = {"counter": COUNTER, "gauge": GAUGE, "info": GAUGE, "stateset": GAUGE}.get(kind, UNTYPED)
    metrics = []
    for sample in metric.samples:
        if sample.name != name:  # a counter's _created: Prometheus 2 has no use for it
            continue
        body = _DOUBLE_1 + _pack_double(sample.value)
        if code == COUNTER and sample.exemplar is not None:
            body += _field(_LEN_2, _client_exemplar(sample.exemplar))
        metric_bytes = _sample_labels(sample.labels) + _field(_VALUE_TAG[code], body)
        if sample.timestamp is not None:
            milliseconds = round(_seconds(sample.timestamp) * 1000)
            metric_bytes += _TIMESTAMP_MS_TAG + _varint(milliseconds)
        metrics.append(metric_bytes)
    return _family(name, metric.documentation, code, metrics) if metrics else b""


def _grouped(metric: ClientMetric) -> list[bytes]:
    """Histogram or summary samples gathered into one Metric per label set."""
    series: dict[tuple[tuple[str, str], ...], list[Sample]] = {}
    for sample in metric.samples:
        own = tuple((k, v) for k, v in sample.labels.items() if k not in ("le", "quantile"))
        series.setdefault(own, []).append(sample)
    histogram = metric.type != "summary"
    return [
        _sample_labels(dict(labels))
        + _field(_HISTOGRAM_TAG if histogram else _VALUE_TAG[SUMMARY], _aggregate(metric, group))
        for labels, group in series.items()
    ]


def _aggregate(metric: ClientMetric, samples: Sequence[Sample]) -> bytes:
    """A Histogram or Summary message from one label set's samples."""
    count = 0.0
    total = 0.0
    points = []
    for sample in samples:
        suffix = sample.name[len(metric.name) :]
        if suffix in ("_count", "_gcount"):
            count = sample.value
        elif suffix in ("_sum", "_gsum"):
            total = sample.value
        elif suffix == "_bucket":
            bucket = _UINT_1 + _varint(int(sample.value))
            bucket += _DOUBLE_2 + _pack_double(float(sample.labels["le"]))
            if sample.exemplar is not None:
                bucket += _field(_LEN_3, _client_exemplar(sample.exemplar))
            points.append(_field(_LEN_3, bucket))
        elif suffix == "" and "quantile" in sample.labels:
            quantile = _DOUBLE_1 + _pack_double(float(sample.labels["quantile"]))
            points.append(_field(_LEN_3, quantile + _DOUBLE_2 + _pack_double(sample.value)))
    head = _UINT_1 + _varint(int(count)) + _DOUBLE_2 + _pack_double(total)
    return head + b"".join(points)


def _sample_labels(labels: Mapping[str, str]) -> bytes:
    return _label_pairs(tuple(labels), tuple(labels.values()))


def _client_exemplar(exemplar: ClientExemplar) -> bytes:
    timestamp = None if exemplar.timestamp is None else _seconds(exemplar.timestamp)
    return _exemplar(exemplar.labels, exemplar.value, timestamp)


def _seconds(timestamp: object) -> float:
    sec = getattr(timestamp, "sec", None)
    if sec is not None:  # prometheus_client's Timestamp(sec, nsec)
        return float(sec) + getattr(timestamp, "nsec", 0) / 1e9
    return float(timestamp)  # type: ignore[arg-type]
