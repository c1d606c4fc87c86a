"""What both guarded protocols add to uvicorn's, whichever parser it uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from folio_metrics import ConnectionTracker

from folio.protocol.guard import Cycle, RequestGuard
from folio.protocol.limits import ProtocolLimits

if TYPE_CHECKING:
    from uvicorn.protocols.http.flow_control import FlowControl
    from uvicorn.server import ServerState


class GuardedConnection:
    """A mixin, placed before uvicorn's h11 or httptools protocol: one guard per connection.

    ``server_protocol`` subclasses it with a tracked protocol and sets the class variables.
    """

    limits: ClassVar[ProtocolLimits]
    tracker: ClassVar[ConnectionTracker]
    guard: RequestGuard
    # Set by the uvicorn protocol this is mixed into.
    loop: asyncio.AbstractEventLoop
    server_state: ServerState
    connections: set[Any]
    app: Any
    flow: FlowControl
    cycle: Any
    timeout_keep_alive: int
    timeout_keep_alive_task: asyncio.TimerHandle | None
    timeout_keep_alive_handler: Callable[[], None]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Set up the guard, turn the connection away past the cap, start the idle timeout."""
        super().connection_made(transport)  # type: ignore[misc]
        self.guard = RequestGuard(
            cast(asyncio.Transport, transport),  # a stream protocol gets a stream transport
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
        super().connection_lost(exc)  # type: ignore[misc]

    def send_400_response(self, msg: str) -> None:
        """Answer a request the parser refused with a JSON 400, instead of text/plain."""
        self.guard.reject_malformed()

    def _current_cycle(self) -> Cycle | None:
        cycle: Cycle | None = self.cycle
        return cycle
