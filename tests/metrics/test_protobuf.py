"""The protobuf exposition: decoded field by field, against the text format, and negotiated.

The decoder below is the test's own reading of client_model's metrics.proto: every field
number and wire type it accepts is written out here, and anything else fails the test.
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from typing import Any

import httpx
import pytest
from folio_metrics import MetricsEndpoint, MetricsRegistry, render
from folio_metrics.negotiation import Format, negotiate, wants_protobuf
from folio_metrics.protobuf import PROTOBUF_CONTENT_TYPE, render_protobuf
from prometheus_client import Counter, Gauge, Histogram, Info, Summary
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route

from tests.metrics.test_negotiation import PROMETHEUS_2

VARINT, I64, LEN = 0, 1, 2
# Prometheus 2.42 with --enable-feature=native-histograms (scrape.go's header).
PROMETHEUS_PROTOBUF = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
    "encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,"
    "application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
MEDIA = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily"
DELIMITED = f"{MEDIA};encoding=delimited"
Schema = dict[int, tuple[str, int, Any]]  # field -> (name, wire type, message schema or str)
TIMESTAMP: Schema = {1: ("seconds", VARINT, None), 2: ("nanos", VARINT, None)}
LABEL_PAIR: Schema = {1: ("name", LEN, str), 2: ("value", LEN, str)}
EXEMPLAR: Schema = {
    1: ("label", LEN, LABEL_PAIR),
    2: ("value", I64, None),
    3: ("timestamp", LEN, TIMESTAMP),
}
VALUE: Schema = {1: ("value", I64, None)}
COUNTER: Schema = {1: ("value", I64, None), 2: ("exemplar", LEN, EXEMPLAR)}
BUCKET: Schema = {
    1: ("cumulative_count", VARINT, None),
    2: ("upper_bound", I64, None),
    3: ("exemplar", LEN, EXEMPLAR),
}
HISTOGRAM: Schema = {
    1: ("sample_count", VARINT, None),
    2: ("sample_sum", I64, None),
    3: ("bucket", LEN, BUCKET),
}
QUANTILE: Schema = {1: ("quantile", I64, None), 2: ("value", I64, None)}
SUMMARY: Schema = {
    1: ("sample_count", VARINT, None),
    2: ("sample_sum", I64, None),
    3: ("quantile", LEN, QUANTILE),
}
METRIC: Schema = {
    1: ("label", LEN, LABEL_PAIR),
    2: ("gauge", LEN, VALUE),
    3: ("counter", LEN, COUNTER),
    4: ("summary", LEN, SUMMARY),
    5: ("untyped", LEN, VALUE),
    7: ("histogram", LEN, HISTOGRAM),
}
FAMILY: Schema = {
    1: ("name", LEN, str),
    2: ("help", LEN, str),
    3: ("type", VARINT, None),
    4: ("metric", LEN, METRIC),
}
Message = dict[str, list[Any]]


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def decode(data: bytes, schema: Schema) -> Message:
    """One message: each field's values in order, nested messages decoded by ``schema``."""
    message: Message = {}
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        assert key >> 3 in schema, f"unexpected field {key >> 3} in {schema}"
        name, wire, inner = schema[key >> 3]
        assert key & 7 == wire, f"{name}: wire type {key & 7}, expected {wire}"
        value: Any
        if wire == VARINT:
            value, position = _varint(data, position)
        elif wire == I64:
            (value,) = struct.unpack_from("<d", data, position)
            position += 8
        else:
            length, position = _varint(data, position)
            value = data[position : position + length]
            assert len(value) == length, "truncated field"
            position += length
            value = value.decode() if inner is str else decode(value, inner)
        message.setdefault(name, []).append(value)
    return message


def families(stream: bytes) -> dict[str, Message]:
    """The delimited stream's MetricFamily messages by name."""
    found: dict[str, Message] = {}
    position = 0
    while position < len(stream):
        length, position = _varint(stream, position)
        family = decode(stream[position : position + length], FAMILY)
        position += length
        (name,) = family["name"]
        assert name not in found, f"{name} sent twice"
        found[name] = family
    return found


def labels(message: Message) -> dict[str, str]:
    return {pair["name"][0]: pair["value"][0] for pair in message.get("label", [])}


def _registry() -> MetricsRegistry:
    registry = MetricsRegistry()
    jobs = registry.counter("jobs_total", "Jobs done.", ["queue"])
    jobs.labels("mail").inc(3, exemplar={"trace_id": "abc"})
    registry.gauge("temperature_celsius", "How warm.").unlabelled().set(21.5)
    latency = registry.histogram("latency_seconds", "Latency.", ["route"], buckets=[0.1, 1])
    latency.labels("/a").observe(0.05)
    latency.labels("/a").observe(0.5, exemplar={"trace_id": "def"})
    latency.labels("/a").observe(5)
    bridged = Counter("bridged_things_total", "Things.", ["kind"], registry=None)
    bridged.labels("a").inc(2)
    registry.bridge(bridged)
    return registry


def test_families_decode_field_by_field() -> None:
    """Counter (with exemplar), gauge, histogram and a bridged counter carry their values."""
    before = time.time()
    found = families(render_protobuf(_registry()))
    jobs = found["jobs_total"]
    assert (jobs["help"], jobs["type"]) == (["Jobs done."], [0])
    (metric,) = jobs["metric"]
    assert labels(metric) == {"queue": "mail"}
    (counter,) = metric["counter"]
    assert counter["value"] == [3.0]
    (exemplar,) = counter["exemplar"]
    assert (labels(exemplar), exemplar["value"]) == ({"trace_id": "abc"}, [3.0])
    (stamp,) = exemplar["timestamp"]
    seconds = stamp["seconds"][0] + stamp.get("nanos", [0])[0] / 1e9
    assert math.floor(before) <= seconds <= time.time()
    temperature = found["temperature_celsius"]
    assert temperature["type"] == [1]
    assert temperature["metric"] == [{"gauge": [{"value": [21.5]}]}]
    latency = found["latency_seconds"]
    assert latency["type"] == [4]
    (metric,) = latency["metric"]
    assert labels(metric) == {"route": "/a"}
    (histogram,) = metric["histogram"]
    assert (histogram["sample_count"], histogram["sample_sum"]) == ([3], [5.55])
    buckets = histogram["bucket"]
    assert [b["upper_bound"][0] for b in buckets] == [0.1, 1.0, math.inf]
    assert [b["cumulative_count"][0] for b in buckets] == [1, 2, 3]
    assert [labels(b["exemplar"][0]) for b in buckets if "exemplar" in b] == [{"trace_id": "def"}]
    bridged = found["bridged_things_total"]
    assert bridged["type"] == [0]
    assert bridged["metric"] == [
        {"label": [{"name": ["kind"], "value": ["a"]}], "counter": [{"value": [2.0]}]}
    ]
    # The overflow counter has a zero series per labelled family; the errors none at all.
    overflow = found["folio_metrics_series_overflow_total"]["metric"]
    overflowing = sorted(labels(m)["metric"] for m in overflow)
    assert overflowing == ["folio_metrics_errors_total", "jobs_total", "latency_seconds"]
    assert "folio_metrics_errors_total" not in found


SampleKey = tuple[str, frozenset[tuple[str, str]]]


def _key(name: str, labels: dict[str, str]) -> SampleKey:
    for bound in ("le", "quantile"):  # "1.0" in text, 1.0 in protobuf
        if bound in labels:
            labels = {**labels, bound: repr(float(labels[bound]))}
    return name, frozenset(labels.items())


def _as_prometheus_samples(stream: bytes) -> dict[SampleKey, float]:
    """The samples Prometheus makes of the stream: _bucket/_count/_sum for histograms."""
    samples = {}
    for name, family in families(stream).items():
        for metric in family["metric"]:
            own = labels(metric)
            kind = next(
                k for k in ("counter", "gauge", "untyped", "summary", "histogram") if k in metric
            )
            (value,) = metric[kind]
            if kind not in ("summary", "histogram"):
                samples[_key(name, own)] = value["value"][0]
                continue
            samples[_key(f"{name}_count", own)] = float(value["sample_count"][0])
            samples[_key(f"{name}_sum", own)] = value["sample_sum"][0]
            for quantile in value.get("quantile", []):
                at = {**own, "quantile": str(quantile["quantile"][0])}
                samples[_key(name, at)] = quantile["value"][0]
            for bucket in value.get("bucket", []):
                le = {**own, "le": str(bucket["upper_bound"][0])}
                samples[_key(f"{name}_bucket", le)] = float(bucket["cumulative_count"][0])
    return samples


def test_protobuf_holds_exactly_the_text_samples() -> None:
    """Read as Prometheus reads it, the protobuf holds every text sample (less _created)."""
    registry = _registry()
    registry.gauge("rooms", "Rooms.", ["floor"]).labels("2").set(-1)
    payloads = registry.histogram("payload_bytes", "Payloads.", buckets=[100, 1000]).unlabelled()
    for size in [50] * 200 + [500] * 20_000:  # counts past 16383 take a three-byte varint
        payloads.observe(size)
    waits = Histogram("bridged_wait_seconds", "Waits.", ["pool"], buckets=[1], registry=None)
    waits.labels("main").observe(0.5)
    sizes = Summary("bridged_size_bytes", "Sizes.", registry=None)
    sizes.observe(7)
    version = Info("bridged_build", "Build.", registry=None)
    version.info({"version": "1.2"})
    depth = Gauge("bridged_depth", "Depth.", registry=None)
    depth.set(4)
    for collector in (waits, sizes, version, depth):
        registry.bridge(collector)
    text = render(registry).decode()
    from_text = {
        _key(sample.name, sample.labels): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }
    assert _as_prometheus_samples(render_protobuf(registry)) == from_text


@pytest.mark.parametrize(
    ("accept", "protobuf"),
    [
        (PROMETHEUS_PROTOBUF, True),
        (PROMETHEUS_2, False),
        (MEDIA, False),  # no encoding: the text encodings are not served
        (f"{MEDIA};encoding=text", False),
        (f"{DELIMITED};q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.1", True),
        (f"{DELIMITED};q=0.3,text/plain;q=0.7", False),
        (f"{DELIMITED};q=0.5,application/openmetrics-text;version=1.0.0;q=0.6", False),
        (f"{DELIMITED};q=0.9,application/openmetrics-text;version=2.0.0", True),
        (f"{DELIMITED};q=0,text/plain;q=0.1", False),
        ("*/*", False),
        ("", False),
    ],
)
def test_protobuf_only_when_named_and_preferred(accept: str, protobuf: bool) -> None:
    """Delimited MetricFamily protobuf wins only when asked for by name at the highest q."""
    assert wants_protobuf(accept) is protobuf


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [(PROMETHEUS_PROTOBUF, "protobuf"), (PROMETHEUS_2, "openmetrics"), ("*/*", "text")],
)
def test_negotiate_names_the_format(accept: str, chosen: Format) -> None:
    """Prometheus gets protobuf with native histograms on, OpenMetrics without."""
    assert negotiate(accept) == chosen


async def test_endpoint_serves_gzipped_protobuf_beside_text() -> None:
    """Concurrent protobuf and text scrapes each get their own format, protobuf gzipped."""
    registry = _registry()
    app = Starlette(routes=[Route("/metrics", MetricsEndpoint(registry))])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        binary, text = await asyncio.gather(
            client.get("/metrics", headers={"Accept": PROMETHEUS_PROTOBUF}),
            client.get("/metrics"),  # gzipped too: only the format tells the two apart
        )
        raw = await client.get(
            "/metrics", headers={"Accept": PROMETHEUS_PROTOBUF, "Accept-Encoding": "identity"}
        )
    assert binary.headers["content-type"] == PROTOBUF_CONTENT_TYPE
    assert binary.headers["content-encoding"] == "gzip"
    assert text.headers["content-type"].startswith("text/plain")
    assert 'jobs_total{queue="mail"} 3' in text.text
    assert families(binary.content)["jobs_total"]["metric"][0]["counter"][0]["value"] == [3.0]
    # The same bytes as the library renders, whole, without the endpoint's pieces.
    assert raw.content == render_protobuf(registry)
