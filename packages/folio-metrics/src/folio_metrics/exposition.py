"""Render a registry as Prometheus text 0.0.4 or OpenMetrics 1.0, by concatenation only.

Label text is escaped once when a series is created and each histogram's bucket prefixes
are built on its first render, so a scrape mostly joins ready-made strings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from prometheus_client import generate_latest as generate_text
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from folio_metrics.children import CounterChild, Exemplar, GaugeChild, HistogramChild
from folio_metrics.families import CounterFamily, GaugeFamily, HistogramFamily
from folio_metrics.naming import escape_label_value
from folio_metrics.registry import Family, MetricsRegistry

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
# About a millisecond of rendering: the longest a scrape holds the event loop at a time.
SERIES_PER_CHUNK = 64


def render(registry: MetricsRegistry, *, openmetrics: bool = False) -> bytes:
    """Every family in ``registry`` plus its bridged collectors, in the chosen format."""
    return b"".join(render_chunks(registry, collect(registry), openmetrics=openmetrics))


def collect(registry: MetricsRegistry) -> list[Family]:
    """Run the scrape-time hooks, then the families to render (merged, across workers)."""
    registry.run_collect_hooks()
    return registry.families_to_render()


def render_chunks(
    registry: MetricsRegistry,
    families: list[Family],
    *,
    openmetrics: bool = False,
    series_per_chunk: int = SERIES_PER_CHUNK,
    bridged: bytes | None = None,
) -> Iterator[bytes]:
    """``families`` rendered in pieces of ``series_per_chunk`` series, so that a caller on
    the event loop can let requests run between pieces; the bridged collectors come last,
    as ``bridged`` if the caller rendered them already (off the loop)."""
    lines: list[str] = []
    written = 0
    for family in families:
        if isinstance(family, HistogramFamily):
            series = _histogram(lines, family, openmetrics)
        else:
            series = _scalar(lines, family, openmetrics)
        for _ in series:
            written += 1
            if written == series_per_chunk:
                yield _joined(lines)
                lines.clear()
                written = 0
    if bridged is None:
        bridged = render_bridged(registry, openmetrics=openmetrics)
    yield _joined(lines) + bridged


def _joined(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode() if lines else b""


def format_value(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _header(lines: list[str], name: str, kind: str, documentation: str) -> None:
    help_text = documentation.replace("\\", "\\\\").replace("\n", "\\n")
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _scalar(
    lines: list[str], family: CounterFamily | GaugeFamily, openmetrics: bool
) -> Iterator[None]:
    """Appends the family's lines, pausing after each series."""
    sample_name = family.sample_name
    header_name = family.name if openmetrics else sample_name
    _header(lines, header_name, family.kind, family.documentation)
    children: list[CounterChild | GaugeChild] = list(family.samples_children())
    for child in children:
        labels = f"{{{child.label_text}}}" if child.label_text else ""
        line = f"{sample_name}{labels} {format_value(child.value)}"
        exemplar = getattr(child, "exemplar", None)
        if openmetrics and exemplar is not None:
            line += _exemplar_suffix(exemplar)
        lines.append(line)
        yield


def _histogram(lines: list[str], family: HistogramFamily, openmetrics: bool) -> Iterator[None]:
    """Appends the family's lines, pausing after each series."""
    name = family.name
    _header(lines, name, "histogram", family.documentation)
    append = lines.append
    # With negative buckets a sum is no longer monotonic: OpenMetrics forbids it (and a
    # count without a sum), and prometheus_client leaves it out of the text format too.
    with_sum = family.bounds[0] >= 0
    with_count = with_sum or not openmetrics
    for child in list(family.samples_children()):
        prefixes = child.bucket_prefixes or _bucket_prefixes(name, child)
        counts = list(child.bucket_counts)
        exemplars = child.exemplars if openmetrics else None
        cumulative = 0
        for index, (prefix, count) in enumerate(zip(prefixes, counts, strict=True)):
            cumulative += count
            if exemplars is not None and exemplars[index] is not None:
                append(f"{prefix}{cumulative}{_exemplar_suffix(exemplars[index])}")
            else:
                append(f"{prefix}{cumulative}")
        labels = f"{{{child.label_text}}}" if child.label_text else ""
        if with_count:
            append(f"{name}_count{labels} {cumulative}")
        if with_sum:
            append(f"{name}_sum{labels} {format_value(child.sum)}")
        yield


def _bucket_prefixes(name: str, child: HistogramChild) -> tuple[str, ...]:
    separator = "," if child.label_text else ""
    bounds = [*map(_le, child.bounds), "+Inf"]
    prefixes = tuple(
        f'{name}_bucket{{{child.label_text}{separator}le="{bound}"}} ' for bound in bounds
    )
    child.bucket_prefixes = prefixes
    return prefixes


def _le(bound: float) -> str:
    # OpenMetrics wants canonical floats for le ("1.0", not "1"); text accepts them too.
    return repr(float(bound))


def _exemplar_suffix(exemplar: Exemplar | None) -> str:
    if exemplar is None:
        return ""
    labels = ",".join(
        f'{key}="{escape_label_value(value)}"' for key, value in exemplar.labels.items()
    )
    return f" # {{{labels}}} {format_value(exemplar.value)} {exemplar.timestamp:.3f}"


def render_bridged(registry: MetricsRegistry, *, openmetrics: bool = False) -> bytes:
    """The bridged prometheus_client collectors; nothing, counted, if one of them fails."""
    generate: Callable[[object], bytes] = generate_openmetrics if openmetrics else generate_text  # type: ignore[assignment]
    try:
        rendered = generate(registry.bridged)
    except Exception:
        registry.record_hook_error("bridged_collectors")
        rendered = b""
    if not openmetrics:
        return rendered
    # Our families come first; keep a single # EOF at the very end.
    return rendered if rendered.endswith(b"# EOF\n") else rendered + b"# EOF\n"
