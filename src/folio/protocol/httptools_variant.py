"""The guarded protocol on uvicorn's httptools base (httptools is an optional dependency)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from folio.metrics.connections import ConnectionTracker
from folio.protocol.guard import Cycle, RequestGuard
from folio.protocol.limits import ProtocolLimits


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request deadlines, a connection cap and JSON 400s.

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

    def on_message_begin(self) -> None:
        """A request's first byte: its headers are timed from now."""
        super().on_message_begin()
        self.guard.track("headers")

    def on_headers_complete(self) -> None:
        """The headers are in: the body, if any, is timed from now."""
        super().on_headers_complete()
        self.guard.track("body")

    def on_message_complete(self) -> None:
        """The whole request is in: the handler and response are not timed."""
        super().on_message_complete()
        self.guard.track(None)

    def send_400_response(self, msg: str) -> None:
        """Answer a request the parser refused with a JSON 400, instead of text/plain."""
        self.guard.reject_malformed()

    def _current_cycle(self) -> Cycle | None:
        return self.cycle
