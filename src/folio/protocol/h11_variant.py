"""The guarded protocol on uvicorn's h11 base, which folio serves with."""

from __future__ import annotations

import h11
from folio_metrics import TimeoutPhase
from uvicorn.protocols.http.h11_impl import H11Protocol

from folio.protocol.guarded import GuardedConnection


class GuardedH11Protocol(GuardedConnection, H11Protocol):
    """uvicorn's h11 protocol with request deadlines, a connection cap and JSON 400s."""

    def data_received(self, data: bytes) -> None:
        """Feed uvicorn, then time whatever part of a request is now awaited."""
        super().data_received(data)
        self.guard.track(self._phase())

    def on_response_complete(self) -> None:
        """Finish uvicorn's response, then time a pipelined request it let in."""
        super().on_response_complete()
        # It may have started on pipelined bytes that were waiting for this response.
        self.guard.track(self._phase())

    def _phase(self) -> TimeoutPhase | None:
        their_state = self.conn.their_state
        if their_state is h11.SEND_BODY:
            return "body"
        if their_state is h11.IDLE and self.conn.trailing_data[0]:
            return "headers"  # bytes of a request whose headers are not all in yet
        return None
