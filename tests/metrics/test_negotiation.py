"""Accept and Accept-Encoding pick the format and the compression."""

from __future__ import annotations

import pytest
from folio_metrics.negotiation import accepts_gzip, wants_openmetrics

PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@pytest.mark.parametrize(
    ("accept", "openmetrics"),
    [
        (PROMETHEUS_2, True),
        ("application/openmetrics-text", True),
        ("application/openmetrics-text;version=0.0.1", True),
        ("application/openmetrics-text;version=2.0.0", False),
        ("text/plain;version=0.0.4", False),
        ("", False),
        ("*/*", False),
        ("text/plain;q=0.9,application/openmetrics-text;q=0.5", False),
        ("text/plain;q=0.5,application/openmetrics-text;q=0.9", True),
        ("application/openmetrics-text;q=0", False),
        ("application/openmetrics-text;q=banana", False),
    ],
)
def test_format_follows_accept_and_q_values(accept: str, openmetrics: bool) -> None:
    """OpenMetrics is chosen only when acceptable and preferred at least as much as text."""
    assert wants_openmetrics(accept) is openmetrics


@pytest.mark.parametrize(
    ("accept_encoding", "gzip"),
    [
        ("gzip", True),
        ("br, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("identity", False),
        ("*", True),
        ("", False),
    ],
)
def test_gzip_follows_accept_encoding(accept_encoding: str, gzip: bool) -> None:
    """gzip is used when the client accepts it with a positive q-value."""
    assert accepts_gzip(accept_encoding) is gzip
