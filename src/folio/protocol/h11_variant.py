"""The guarded protocol on uvicorn's h11 base, which folio serves with."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from folio.metrics.connections import ConnectionTracker, TimeoutPhase
from folio.protocol.guard import Cycle, RequestGuard
from folio.protocol.limits import ProtocolLimits


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with request deadlines, a connection cap and JSON 400s.

    ``server_protocol`` subclasses it with a tracked protocol and sets the class variables.
    """

    limits: ClassVar[ProtocolLimits]
    tracker: ClassVar[ConnectionTracker]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set up the guard, turn the connection away past the cap, start the idle timeout."""
        super().connection_made(transport)
        self.guard = RequestGuard(
            transport,
            self.loop,
            self.limits,
            self.tracker,
            self.server_state.default_headers,
            self._current_cycle,
        )
        self.flow = self.guard.flow
        if len(self.connections) > self.limits.max_connections:
            self.app = self.guard.turn_away()
        # uvicorn arms its keep-alive timeout only after a response: a connection that never
        # sends a byte would otherwise stay open for good.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop timing: nothing more will arrive."""
        self.guard.track(None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feed uvicorn, then time whatever part of a request is now awaited."""
        super().data_received(data)
        self.guard.track(self._phase())

    def on_response_complete(self) -> None:
        """Finish uvicorn's response, then time a pipelined request it let in."""
        super().on_response_complete()
        # It may have started on pipelined bytes that were waiting for this response.
        self.guard.track(self._phase())

    def send_400_response(self, msg: str) -> None:
        """Answer a request the parser refused with a JSON 400, instead of text/plain."""
        self.guard.reject_malformed()

    def _phase(self) -> TimeoutPhase | None:
        their_state = self.conn.their_state
        if their_state is h11.SEND_BODY:
            return "body"
        if their_state is h11.IDLE and self.conn.trailing_data[0]:
            return "headers"  # bytes of a request whose headers are not all in yet
        return None

    def _current_cycle(self) -> Cycle | None:
        return self.cycle
