"""Deadlines for receiving each request on one connection, and what happens when they pass."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from folio_metrics import SERVER_STATUS_SCOPE_KEY, ConnectionTracker, TimeoutPhase
from uvicorn.protocols.http.flow_control import FlowControl

from folio.protocol.clock import DeadlineClock
from folio.protocol.limits import ProtocolLimits
from folio.protocol.responses import (
    Header,
    OverCapacity,
    malformed_request_message,
    raw_error_response,
)

logger = logging.getLogger("uvicorn.error")


class Cycle(Protocol):
    """What the guard reads and sets on uvicorn's request-response cycle (either base's)."""

    response_started: bool
    response_complete: bool
    disconnected: bool
    waiting_for_100_continue: bool
    more_body: bool
    message_event: asyncio.Event
    scope: Any  # uvicorn's HTTPScope, a TypedDict; the guard adds one key


class WatchedFlow(FlowControl):
    """uvicorn's flow control, holding the clock while the server has stopped reading."""

    def __init__(self, transport: asyncio.Transport, clock: DeadlineClock) -> None:
        super().__init__(transport)
        self._clock = clock

    def pause_reading(self) -> None:
        """Stop reading, and the client's clock with it."""
        super().pause_reading()
        self._clock.hold()

    def resume_reading(self) -> None:
        """Read again, and let the client's clock run on."""
        super().resume_reading()
        self._clock.release()


class RequestGuard:
    """One connection's deadlines: 408 (or a close) for a client too slow to send its request.

    The protocol reports the phase it is in after each event: ``headers`` from a request's
    first byte to the end of its headers, ``body`` from there to the end of the body, and
    None otherwise (no request under way, or the handler and response have the turn).
    """

    def __init__(
        self,
        transport: asyncio.Transport,
        loop: asyncio.AbstractEventLoop,
        limits: ProtocolLimits,
        tracker: ConnectionTracker,
        default_headers: Sequence[Header],
        current_cycle: Callable[[], Cycle | None],
    ) -> None:
        self.transport = transport
        self.limits = limits
        self.tracker = tracker
        self.default_headers = default_headers
        self.clock = DeadlineClock(loop, self._expired)
        self.flow = WatchedFlow(transport, self.clock)
        self.current_cycle = current_cycle

    def track(self, phase: TimeoutPhase | None) -> None:
        """Time ``phase`` from now, or nothing when it is None; the same phase runs on."""
        if phase is None or self.transport.is_closing():
            self.clock.stop()
            return
        self.clock.start(phase, self.limits.seconds(phase))
        cycle = self.current_cycle()
        if phase == "body" and cycle is not None and cycle.waiting_for_100_continue:
            # The client sends its body only after the 100 Continue, which goes out when the
            # handler first reads; uvicorn resumes reading right after it, releasing the clock.
            self.clock.hold()

    def turn_away(self) -> OverCapacity:
        """The app for a connection past the cap: its request gets 503 and the connection closes.

        A 503 rather than a bare close: a client or load balancer knows to retry elsewhere.
        """
        self.tracker.connection_rejected()
        cap = self.limits.max_connections
        logger.warning("More than %d open connections: answering 503 and closing", cap)
        return OverCapacity(cap)

    def reject_malformed(self) -> None:
        """Answer a request the parser refused with a JSON 400, and close.

        Called from inside the protocol's ``except`` for the parser's error, which names
        what was wrong.
        """
        self.clock.stop()
        message = malformed_request_message(sys.exc_info()[1])
        cycle = self.current_cycle()
        if cycle is not None and cycle.more_body:
            # A body gone wrong under a handler that has begun: as with a body that is late.
            if cycle.response_started:
                self.transport.close()
                return
            _end_handlers_wait(cycle, 400)
        self._answer(400, "bad_request", message, None)

    def _expired(self, phase: TimeoutPhase) -> None:
        cycle, seconds = self.current_cycle(), self.limits.seconds(phase)
        if self.transport.is_closing():
            return
        if cycle is not None and phase == "body" and cycle.waiting_for_100_continue:
            # The client waits for 100 Continue, which goes out when the handler reads.
            self.clock.restart(phase, seconds)
            return
        if cycle is not None and phase == "headers" and not cycle.response_complete:
            # A pipelined request's headers: never cut the response still going out before it.
            self.clock.restart(phase, seconds)
            return
        self.tracker.request_timed_out(phase)
        if phase == "headers" or (cycle is not None and not cycle.response_started):
            if phase == "body" and cycle is not None:
                _end_handlers_wait(cycle, 408)
            message = f"the request {phase} did not arrive within {seconds:g} s"
            self._answer(408, "request_timeout", message, {"timeout_seconds": seconds})
        else:
            self.transport.close()  # the response has begun: no status can be sent any more

    def _answer(self, status: int, code: str, message: str, details: object) -> None:
        response = raw_error_response(status, code, message, details, self.default_headers)
        self.transport.write(response)
        self.transport.close()


def _end_handlers_wait(cycle: Cycle, status: int) -> None:
    """Give the handler a disconnect, as the server answers ``status`` itself.

    Whatever the handler sends is dropped rather than written after that answer, and the
    metrics and access log record ``status``, the answer the client got.
    """
    cycle.disconnected = True
    cycle.scope[SERVER_STATUS_SCOPE_KEY] = status
    cycle.message_event.set()
