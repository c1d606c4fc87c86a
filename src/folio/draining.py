"""Zero-downtime stop: on SIGTERM, report "not ready" for a while, then shut down gracefully.

A load balancer (an ALB, Kubernetes) keeps sending requests to a task for a moment after it
has been told to stop it. So the first SIGTERM only marks the process as draining: the
readiness checks answer 503, every request is still served, and once FOLIO_DRAIN_SECONDS
have passed uvicorn stops listening, lets in-flight requests finish, and exits. A second
SIGTERM or SIGINT skips the rest of the drain.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
import time
from types import FrameType

import uvicorn

logger = logging.getLogger("folio.draining")

# Enough for the event loop to read requests that reached accepted connections already.
ACCEPTED_GRACE_SECONDS = 0.05


class Drain:
    """Whether this process has been asked to stop; readiness checks read it."""

    def __init__(self) -> None:
        self.started_at: float | None = None

    @property
    def active(self) -> bool:
        return self.started_at is not None

    def start(self) -> None:
        if self.started_at is None:
            self.started_at = time.monotonic()


class DrainingServer(uvicorn.Server):
    """uvicorn's server, but its first stop signal starts a drain of ``drain_seconds``."""

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain.active or self.drain_seconds <= 0:
            super().handle_exit(sig, frame)
            return
        self.drain.start()
        logger.info("%s: not ready; stopping in %g s", signal.Signals(sig).name, self.drain_seconds)
        # A timer thread, because a signal handler must return at once.
        stop = threading.Timer(self.drain_seconds, self._end_drain)
        stop.daemon = True
        stop.start()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's shutdown, but connections just accepted get their request read first.

        uvicorn closes every connection that has no request in flight. One accepted a moment
        before, whose request is already in its buffer, would be cut without an answer: a
        lost request at every worker recycle. Stop accepting, let the loop read what has
        arrived, then shut down as uvicorn does.
        """
        for server in self.servers:
            server.close()
        await asyncio.sleep(ACCEPTED_GRACE_SECONDS)
        await super().shutdown(sockets)

    def _end_drain(self) -> None:
        # As uvicorn's own first signal does: stop listening, finish in-flight requests.
        self.should_exit = True
