"""Open client connections, counted where the server accepts and closes them."""

from __future__ import annotations

import asyncio
from typing import Any, Literal, get_args

from folio_metrics.children import CounterChild, GaugeChild
from folio_metrics.registry import MetricsRegistry

Peer = tuple[str, int]
# Where a request was when the server stopped waiting for it: a fixed set, never from input.
TimeoutPhase = Literal["headers", "body"]
TIMEOUT_PHASES: tuple[TimeoutPhase, ...] = get_args(TimeoutPhase)


class ConnectionTracker:
    """The set of open TCP peers, fed by a server protocol (see ``uvicorn_protocol``).

    Idle keep-alive connections count, because the protocol, not a request, reports them.
    """

    def __init__(self) -> None:
        self.open_peers: set[Peer] = set()
        self.open_count = 0
        self.attached = False  # has a server protocol ever reported to this tracker?
        self._gauge: GaugeChild | None = None
        self._registry: MetricsRegistry | None = None
        self._timeouts: dict[TimeoutPhase, CounterChild] = {}
        self._rejected: CounterChild | None = None

    def opened(self, peer: Peer | None) -> None:
        """Count a connection the server accepted from ``peer``."""
        self.attached = True
        self.open_count += 1
        if peer is not None:
            self.open_peers.add(peer)
        if self._gauge is not None:
            self._gauge.inc()

    def closed(self, peer: Peer | None) -> None:
        """Count the end of a connection from ``peer``."""
        self.open_count -= 1
        if peer is not None:
            self.open_peers.discard(peer)
        if self._gauge is not None:
            self._gauge.dec()

    def request_timed_out(self, phase: TimeoutPhase) -> None:
        """Count a request the server gave up waiting for, in ``phase``."""
        child = self._timeouts.get(phase)
        if child is not None:
            self._count(child, "http_request_timeouts")

    def connection_rejected(self) -> None:
        """Count a connection turned away because the server had too many open."""
        if self._rejected is not None:
            self._count(self._rejected, "http_connections_rejected")

    def _count(self, child: CounterChild, hook: str) -> None:
        # Called from the server protocol, where an exception would drop the connection.
        try:
            child.inc()
        except Exception:
            if self._registry is not None:
                self._registry.record_hook_error(hook)

    def is_open(self, client: tuple[str, int] | None) -> bool:
        """Whether the connection from ``client`` is still open."""
        # Without a reporting server (or for unix sockets) nothing is known: assume open.
        if client is None or not self.attached:
            return True
        return (str(client[0]), int(client[1])) in self.open_peers

    def export(self, registry: MetricsRegistry) -> None:
        """Serve the open-connection gauge from ``registry``."""
        # Kept current as connections come and go, so that across workers the sum over
        # live workers is exact whichever worker is scraped.
        self._gauge = registry.gauge(
            "http_active_connections",
            "Open client connections, idle keep-alive ones included, as the server sees them.",
        ).unlabelled()
        self._gauge.set(self.open_count)
        self._registry = registry
        timeouts = registry.counter(
            "http_request_timeouts_total",
            "Requests the server stopped waiting for: headers or body too slow to arrive.",
            ["phase"],
        )
        # Both phases are served at 0 from the start, so that increase() sees the first one.
        self._timeouts = {phase: timeouts.labels(phase) for phase in TIMEOUT_PHASES}
        self._rejected = registry.counter(
            "http_connections_rejected_total",
            "Connections answered 503 and closed because the worker had too many open.",
        ).unlabelled()


def uvicorn_protocol(tracker: ConnectionTracker, base: str = "h11") -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class that reports to ``tracker``; pass it as ``http=``."""
    if base == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol as Base  # type: ignore[assignment]

    class TrackedProtocol(Base):
        def connection_made(self, transport: Any) -> None:
            self._folio_peer = _peer(transport)
            tracker.opened(self._folio_peer)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            tracker.closed(self._folio_peer)
            super().connection_lost(exc)

    return TrackedProtocol


def _peer(transport: asyncio.BaseTransport) -> Peer | None:
    peername = transport.get_extra_info("peername")
    if isinstance(peername, tuple) and len(peername) >= 2:
        return (str(peername[0]), int(peername[1]))
    return None
