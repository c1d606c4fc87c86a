"""Zero-downtime stop: on SIGTERM, report "not ready" for a while, then shut down gracefully.

A load balancer (an ALB, Kubernetes) keeps sending requests to a task for a moment after it
has been told to stop it. So the first SIGTERM only marks the process as draining: the
readiness checks answer 503, every request is still served, and once FOLIO_DRAIN_SECONDS
have passed uvicorn stops listening, lets in-flight requests finish, and exits. A second
SIGTERM or SIGINT skips the rest of the drain.

A worker that leaves, after that drain or on reaching its request limit, must not cut a
keep-alive connection as its client sends the next request down it: that request is lost.
So it stops accepting, every response it still sends says ``Connection: close``, and
connections left idle are closed only once their clients have fallen quiet.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import Message, Receive, Scope, Send

logger = logging.getLogger("folio.draining")

# Enough for the event loop to read requests that reached accepted connections already.
ACCEPTED_GRACE_SECONDS = 0.05
# No request has begun for this long: a client still holding an idle connection is not
# busy using it, so closing it is unlikely to cross a request on the way.
QUIET_SECONDS = 0.5
POLL_SECONDS = 0.01
CLOSE = (b"connection", b"close")


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
    """uvicorn's server, but its first stop signal starts a drain of ``drain_seconds``.

    It wraps ``config.app``, which must be the app itself, so that it sees every response.
    """

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_seconds = drain_seconds
        self.requests_started = 0
        self.last_request_at = 0.0
        self.leaving_since: float | None = None
        if isinstance(config.app, str):
            raise TypeError("DrainingServer needs the app itself, not its import string")
        config.app = _CloseWhenLeaving(config.app, self)

    @property
    def leaving(self) -> bool:
        return self.leaving_since is not None or self.should_exit

    def request_started(self) -> None:
        self.requests_started += 1
        self.last_request_at = time.monotonic()
        limit = self.limit_max_requests
        # uvicorn checks its limit only every 100 ms, and accepts connections meanwhile.
        if limit is not None and self.requests_started >= limit:
            self._leave()

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
        """uvicorn's shutdown, once the clients of this server's connections have left.

        uvicorn at once closes every connection that has no request in flight. A client
        may be sending its next request down one at that moment, or it may sit unread in
        one just accepted: either way it is lost. So stop accepting, and wait until each
        connection has carried its last request (answered with ``Connection: close``) or
        the clients have fallen quiet; uvicorn then closes whatever remains.
        """
        self._leave()
        await self._let_clients_leave()
        await super().shutdown(sockets)

    def _leave(self) -> None:
        if self.leaving_since is None:
            self.leaving_since = time.monotonic()
            for server in self.servers:
                server.close()

    async def _let_clients_leave(self) -> None:
        assert self.leaving_since is not None
        # By then uvicorn's keep-alive timeout has closed idle connections anyway.
        deadline = self.leaving_since + self.config.timeout_keep_alive
        while not self.force_exit:
            await asyncio.sleep(POLL_SECONDS)
            now = time.monotonic()
            if now - self.leaving_since < ACCEPTED_GRACE_SECONDS:
                continue
            quiet = now - max(self.leaving_since, self.last_request_at) >= QUIET_SECONDS
            if not self.server_state.connections or quiet or now >= deadline:
                return

    def _end_drain(self) -> None:
        # As uvicorn's own first signal does: stop listening, finish in-flight requests.
        self.should_exit = True


class _CloseWhenLeaving:
    """ASGI middleware: once its server is leaving, every response says ``Connection: close``.

    The client then drops the connection instead of putting it back in its pool, where
    the server's close could meet the next request sent down it.
    """

    def __init__(self, app: Callable[..., Any], server: DrainingServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.server.request_started()

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self.server.leaving:
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != CLOSE[0]]
                message = {**message, "headers": [*kept, CLOSE]}
            await send(message)

        await self.app(scope, receive, send_closing)
