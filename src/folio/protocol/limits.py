"""The limits a folio server puts on its clients' connections; FOLIO_* settings set them."""

from __future__ import annotations

from dataclasses import dataclass

from folio_metrics import TimeoutPhase


@dataclass(frozen=True)
class ProtocolLimits:
    """How long a client may take to send a request, and how many connections a worker keeps."""

    # From a request's first byte to the end of its headers.
    header_timeout_seconds: float = 10.0
    # From the end of the headers to the end of the body: a 3 MiB body at 26 KB/s fits.
    body_timeout_seconds: float = 120.0
    # Open connections per worker past which new ones are answered 503 and closed.
    max_connections: int = 1000

    def seconds(self, phase: TimeoutPhase) -> float:
        """The budget for ``phase``."""
        return self.header_timeout_seconds if phase == "headers" else self.body_timeout_seconds
