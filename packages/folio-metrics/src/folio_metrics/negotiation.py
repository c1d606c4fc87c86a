"""Choose the exposition format and encoding from Accept and Accept-Encoding."""

from __future__ import annotations

OPENMETRICS = "application/openmetrics-text"
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


def accepts_gzip(accept_encoding: str) -> bool:
    return any(
        coding in ("gzip", "*") and quality > 0 for coding, quality, _ in _weighted(accept_encoding)
    )
