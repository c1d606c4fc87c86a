"""Choose the exposition format and encoding from Accept and Accept-Encoding."""

from __future__ import annotations

from typing import Literal

Format = Literal["text", "openmetrics", "protobuf"]

OPENMETRICS = "application/openmetrics-text"
PROTOBUF = "application/vnd.google.protobuf"
# The only protobuf served: delimited MetricFamily messages (not the text encodings).
_PROTOBUF_PARAMETERS = {"proto": "io.prometheus.client.MetricFamily", "encoding": "delimited"}
# 0.0.1 is the draft Prometheus still lists; 1.0.0 output satisfies it.
_VERSIONS = frozenset({"1.0.0", "0.0.1"})


def _weighted(header: str) -> list[tuple[str, float, dict[str, str]]]:
    """Each media range (or coding) with its q-value and other parameters."""
    choices = []
    for part in header.split(","):
        pieces = [piece.strip() for piece in part.split(";")]
        if not pieces[0]:
            continue
        parameters = {}
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            parameters[key.strip().lower()] = value.strip()
        try:
            quality = float(parameters.pop("q", "1"))
        except ValueError:
            quality = 0.0
        choices.append((pieces[0].lower(), quality, parameters))
    return choices


def wants_openmetrics(accept: str) -> bool:
    """True when OpenMetrics 1.0 is acceptable and preferred over the text format."""
    best_openmetrics = 0.0
    best_text = 0.0
    for media_type, quality, parameters in _weighted(accept):
        if media_type == OPENMETRICS and parameters.get("version", "1.0.0") in _VERSIONS:
            best_openmetrics = max(best_openmetrics, quality)
        elif media_type in ("text/plain", "text/*", "*/*"):
            best_text = max(best_text, quality)
    return best_openmetrics > 0 and best_openmetrics >= best_text


def wants_protobuf(accept: str) -> bool:
    """True when delimited MetricFamily protobuf is acceptable and preferred at least as much
    as either text format; only a client naming it gets it, never ``*/*``."""
    best_protobuf = 0.0
    best_other = 0.0
    for media_type, quality, parameters in _weighted(accept):
        if media_type == PROTOBUF:
            if all(
                parameters.get(key, "").strip('"') == value
                for key, value in _PROTOBUF_PARAMETERS.items()
            ):
                best_protobuf = max(best_protobuf, quality)
        elif media_type in ("text/plain", "text/*", "*/*") or (
            media_type == OPENMETRICS and parameters.get("version", "1.0.0") in _VERSIONS
        ):
            best_other = max(best_other, quality)
    return best_protobuf > 0 and best_protobuf >= best_other


def negotiate(accept: str) -> Format:
    """The format to serve for ``accept``: protobuf, OpenMetrics or text, in that order."""
    if wants_protobuf(accept):
        return "protobuf"
    return "openmetrics" if wants_openmetrics(accept) else "text"


def accepts_gzip(accept_encoding: str) -> bool:
    return any(
        coding in ("gzip", "*") and quality > 0 for coding, quality, _ in _weighted(accept_encoding)
    )
