"""The limits a folio server puts on its clients' connections; FOLIO_* settings set them."""

from __future__ import annotations

from dataclasses import dataclass

from folio.metrics.connections import TimeoutPhase


@dataclass(frozen=True)
class ProtocolLimits:
    """How long a client may take to send a request, and how many connections a worker keeps."""

    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 60.0
    max_connections: int = 1000

    def seconds(self, phase: TimeoutPhase) -> float:
        """The budget for ``phase``."""
        return self.header_timeout_seconds if phase == "headers" else self.body_timeout_seconds
