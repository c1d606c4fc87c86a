"""Exemplar labels from a W3C traceparent header."""

from __future__ import annotations

from folio_metrics.asgi import Scope

_HEX = frozenset("0123456789abcdef")
_NO_TRACE = "0" * 32


def trace_exemplar(scope: Scope) -> dict[str, str] | None:
    """{"trace_id": ...} from a valid ``traceparent`` request header, else None."""
    for name, value in scope["headers"]:
        if name == b"traceparent":
            return _parse(value)
    return None


def _parse(value: bytes) -> dict[str, str] | None:
    # version "-" trace-id (32 hex) "-" parent-id (16 hex) "-" flags (2 hex)
    parts = value.decode("latin-1").strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff":
        return None
    trace_id = parts[1]
    if len(trace_id) != 32 or not _HEX.issuperset(trace_id) or trace_id == _NO_TRACE:
        return None
    return {"trace_id": trace_id}
