"""The renderer's output is valid text 0.0.4 and OpenMetrics 1.0."""

from __future__ import annotations

import math

from folio_metrics import MetricsRegistry, export_process_metrics, render
from folio_metrics.exposition import format_value
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from tests.metrics.promtool import check_metrics


def _populated() -> MetricsRegistry:
    registry = MetricsRegistry()
    requests = registry.counter("http_requests_total", "Requests.", ["method", "path"])
    requests.labels("GET", '/quote"back\\slash\nnewline').inc(2)
    requests.labels("POST", "/x").inc(exemplar={"trace_id": "0af7651916cd43dd8448eb211c80319c"})
    duration = registry.histogram("job_duration_seconds", "Job time.", ["queue"], buckets=[0.1, 1])
    duration.labels("fast").observe(0.05, exemplar={"trace_id": "abc"})
    duration.labels("fast").observe(5)
    registry.gauge("temperature_celsius", "Help with \\ and\nnewline.").unlabelled().set(-1.5)
    export_process_metrics(registry)
    return registry


def test_text_round_trips_through_prometheus_client() -> None:
    """prometheus_client's parser reads back every value, label and bucket."""
    families = {family.name: family for family in parse_text(render(_populated()).decode())}
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for s in families["http_requests"].samples
    }
    assert (
        samples[
            ("http_requests_total", (("method", "GET"), ("path", '/quote"back\\slash\nnewline')))
        ]
        == 2
    )
    buckets = {
        s.labels["le"]: s.value
        for s in families["job_duration_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert buckets == {"0.1": 1, "1.0": 1, "+Inf": 2}
    assert families["temperature_celsius"].samples[0].value == -1.5
    assert "process_cpu_seconds" in families


def test_openmetrics_round_trips_with_exemplars() -> None:
    """The OpenMetrics parser accepts the output, ending in # EOF, exemplars included."""
    text = render(_populated(), openmetrics=True).decode()
    assert text.endswith("# EOF\n")
    assert text.count("# EOF") == 1
    families = {family.name: family for family in parse_om(text)}
    posted = [s for s in families["http_requests"].samples if s.labels.get("method") == "POST"]
    assert posted[0].exemplar is not None
    assert posted[0].exemplar.labels == {"trace_id": "0af7651916cd43dd8448eb211c80319c"}
    fast = [s for s in families["job_duration_seconds"].samples if s.labels.get("le") == "0.1"]
    assert fast[0].exemplar is not None
    assert fast[0].exemplar.value == 0.05


def test_text_format_has_no_exemplars() -> None:
    """Exemplars appear only in OpenMetrics; the text format has no syntax for them."""
    assert "trace_id" not in render(_populated()).decode()


def test_promtool_finds_nothing_to_complain_about() -> None:
    """`promtool check metrics` prints nothing for the text output."""
    result = check_metrics(render(_populated()))
    assert result.returncode == 0
    assert result.stdout + result.stderr == b""


def test_number_formatting() -> None:
    """Integers print without a fraction, specials as Prometheus spells them."""
    assert [format_value(v) for v in (3.0, 0.25, math.inf, -math.inf)] == [
        "3",
        "0.25",
        "+Inf",
        "-Inf",
    ]
    assert format_value(math.nan) == "NaN"


def test_large_registries_render_every_bucket_line() -> None:
    """10,000 histogram series render into every bucket line (count checked, not time)."""
    registry = MetricsRegistry(default_max_series=20_000)
    family = registry.histogram("big_seconds", "Big.", ["a", "b", "c"], buckets=[0.1, 1, 10])
    for index in range(10_000):
        family.labels(str(index % 10), str(index % 100), str(index)).observe(0.5)
    lines = render(registry).decode().splitlines()
    assert sum(line.startswith("big_seconds_bucket") for line in lines) == 40_000
