"""Plain ASGI middleware that records the http_* metrics for every HTTP request."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Collection
from time import perf_counter
from types import FunctionType, MethodType
from typing import Protocol

from folio_metrics.asgi import ASGIApp, Message, Receive, Scope, Send
from folio_metrics.http import OTHER_METHOD, STANDARD_METHODS, HttpMetrics, RouteChildren
from folio_metrics.labels import MAX_ANSWERS, Exclusions, ExtraLabel, exclusions
from folio_metrics.routes import RouteResolver, StarletteRouteResolver
from folio_metrics.tracing import trace_exemplar

logger = logging.getLogger("folio_metrics")

CLIENT_CLOSED_REQUEST = 499
# Where the resolved route template is left in the scope, for an access log to reuse.
ROUTE_SCOPE_KEY = "folio_metrics.route"
# Where a server protocol that answered a request itself (a 408 for a body that stopped
# coming) puts that status, so the request is counted as what the client got, not a 499.
SERVER_STATUS_SCOPE_KEY = "folio_metrics.server_status"
# Routes are few (unmatched paths share one template), so the bound ones stay few too.
MAX_ROUTES = MAX_ANSWERS
_UNSEEN = object()


class PeerTracker(Protocol):
    """Knows whether the client connection behind a request is still open."""

    def is_open(self, client: tuple[str, int] | None) -> bool:
        """Whether the connection from ``client`` is still open."""
        ...


class RequestQueries(Protocol):
    """Counts what one request does elsewhere (database queries) while it runs."""

    def start(self) -> object:
        """Begin counting for a request; the token is handed back to ``finish``."""
        ...

    def finish(self, token: object, endpoint: str) -> None:
        """Record what the request did, under its route template."""
        ...


class _Exchange:
    """One request's messages as they pass: sizes, status, completion and the client's fate.

    Its ``receive`` and ``send`` wrap the server's; bound methods cost less than closures.
    """

    __slots__ = (
        "body_received",
        "client_gone",
        "client_wait",
        "ended_at",
        "peers",
        "request_bytes",
        "response_bytes",
        "scope",
        "server_receive",
        "server_send",
        "status",
    )

    def __init__(
        self, scope: Scope, receive: Receive, send: Send, peers: PeerTracker | None
    ) -> None:
        self.scope = scope
        self.server_receive = receive
        self.server_send = send
        self.peers = peers
        self.status = 0
        self.request_bytes = 0.0  # floats: a histogram searches float bounds faster
        self.response_bytes = 0.0
        self.client_gone = False
        self.ended_at = 0.0  # when the last byte went out; 0.0 until it has
        self.body_received = False
        self.client_wait = 0.0

    async def receive(self) -> Message:
        if self.body_received:
            # Later calls wait for a disconnect, often beside the app's own work: not a wait.
            message = await self.server_receive()
        else:
            waiting_since = perf_counter()
            message = await self.server_receive()
            self.client_wait += perf_counter() - waiting_since
        kind = message["type"]
        if kind == "http.request":
            self.request_bytes += len(message.get("body", b""))
            if not message.get("more_body", False):
                self.body_received = True
        elif kind == "http.disconnect" and not self.ended_at:
            self.client_gone = True
        return message

    def send(self, message: Message) -> Awaitable[None]:
        # The server's own awaitable is handed back, not awaited in a coroutine of ours:
        # the messages of every request cost a call here, not a coroutine.
        kind = message["type"]
        if kind == "http.response.body":
            self.response_bytes += len(message.get("body", b""))
            if message.get("more_body", False):
                return self._send_part(message)
            self.ended_at = perf_counter()
            if self.peers is not None and not self.peers.is_open(self.scope.get("client")):
                self.client_gone = True
        elif kind == "http.response.start":
            self.status = message["status"]
        return self.server_send(message)

    async def _send_part(self, message: Message) -> None:
        # A part of a streamed body waits while a slow reader's socket buffer is full.
        waiting_since = perf_counter()
        try:
            await self.server_send(message)
        except OSError:
            self.client_gone = True
            raise
        self.client_wait += perf_counter() - waiting_since


class MetricsMiddleware:
    """Counts, times and sizes each request under its route template.

    Instrumentation never breaks a request: a failure in any hook is logged, counted in
    folio_metrics_errors_total, and the request carries on.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: HttpMetrics,
        *,
        resolver: RouteResolver | None = None,
        exclude: Collection[str | re.Pattern[str]] | Exclusions = (),
        peers: PeerTracker | None = None,
        queries: RequestQueries | None = None,
        exemplars: bool = True,
        extra_label: ExtraLabel | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        """``exclude`` names route templates to leave out, exactly or by a whole-match
        pattern; ``extra_label`` must be the one ``metrics`` was built with; ``on_start``
        runs once, on the event loop, when the first scope (lifespan or request) arrives."""
        self.app = app
        self.metrics = metrics
        self.resolver = resolver or StarletteRouteResolver()
        self.exclude = exclusions(exclude)
        self.peers = peers
        self.queries = queries
        self.exemplars = exemplars
        self.extra_label = extra_label
        self.on_start = on_start
        self._routes: dict[tuple[str, str, str], RouteChildren | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.on_start is not None:
            self._start()
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            route = self._route(scope)
            if route is not None:
                query_token = self.queries.start() if self.queries is not None else None
                route.in_progress_cells[0] += 1.0
        except Exception:
            self.metrics.registry.record_hook_error("http_middleware")
            route = None
        if route is None:  # outside the try: the app's own errors are not instrumentation's
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, receive, send, self.peers)
        started_at = perf_counter()
        error: BaseException | None = None
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except asyncio.CancelledError:
            exchange.client_gone = True
            raise
        except OSError as exception:
            # Once the response has started, the server's send raised it: the client's
            # connection broke as the response went out.
            exchange.client_gone = exchange.client_gone or bool(exchange.status)
            error = exception
            raise
        except BaseException as exception:
            error = exception
            raise
        finally:
            try:
                self._record(route, exchange, started_at, error)
                if self.queries is not None:
                    self.queries.finish(query_token, route.endpoint)
            except Exception:
                self.metrics.registry.record_hook_error("http_middleware")

    def _route(self, scope: Scope) -> RouteChildren | None:
        """This request's children, bound once per route; None for an excluded route."""
        method = scope["method"] if scope["method"] in STANDARD_METHODS else OTHER_METHOD
        endpoint = self._resolve(scope)
        scope[ROUTE_SCOPE_KEY] = endpoint
        extra = ""
        if self.extra_label is not None:
            if endpoint in self.exclude:  # the hook runs only for requests it labels
                return None
            extra = self._extra(scope)
        key = (method, endpoint, extra)
        route = self._routes.get(key, _UNSEEN)
        if route is _UNSEEN:
            route = None if endpoint in self.exclude else self.metrics.bind(*key)
            if route is None or route.kept:
                if len(self._routes) >= MAX_ROUTES:
                    self._routes.clear()  # a resolver that returns raw paths: stay bounded
                self._routes[key] = route
        return route  # type: ignore[return-value]

    @property
    def resolver(self) -> RouteResolver:
        """What names each request's route template."""
        return self._resolver

    @resolver.setter
    def resolver(self, resolver: RouteResolver) -> None:
        self._resolver = resolver
        # Calling an instance looks its __call__ up on every call; bound once, it is not.
        call = getattr(type(resolver), "__call__", None)  # noqa: B004 (the function, not a test)
        self._resolve = MethodType(call, resolver) if isinstance(call, FunctionType) else resolver

    def _extra(self, scope: Scope) -> str:
        """The extra label's value; its ``other`` value, counted, if the hook fails."""
        assert self.extra_label is not None
        try:
            return self.extra_label(scope)
        except Exception:
            self.metrics.registry.record_hook_error("extra_label")
            return self.extra_label.other

    def _start(self) -> None:
        on_start, self.on_start = self.on_start, None
        try:
            if on_start is not None:
                on_start()
        except Exception:
            self.metrics.registry.record_hook_error("on_start")

    def _record(
        self,
        route: RouteChildren,
        exchange: _Exchange,
        started_at: float,
        error: BaseException | None,
    ) -> None:
        route.in_progress_cells[0] -= 1.0
        if exchange.client_gone:
            status: int = exchange.scope.get(SERVER_STATUS_SCOPE_KEY, CLIENT_CLOSED_REQUEST)
        elif error is not None or not exchange.status:
            status = 500
        else:
            status = exchange.status
        ended_at = exchange.ended_at or perf_counter()
        exemplar = trace_exemplar(exchange.scope) if self.exemplars else None
        counter = route.requests.get(status) or self.metrics.count_request(route, status)
        counter.inc(1.0, exemplar)
        # The server's own time: waiting for a slow client is not the server being slow.
        # Never below zero: a wait can overlap the handler's own time (a receive running
        # beside a streamed send), and a duration histogram refuses negative values.
        duration = ended_at - started_at - exchange.client_wait
        route.duration.observe(duration if duration > 0.0 else 0.0, exemplar)
        route.request_size.observe(exchange.request_bytes)
        route.response_size.observe(exchange.response_bytes)
        # A client that left is not the app's error, whatever the handler raised as it noticed.
        if status != CLIENT_CLOSED_REQUEST and (status >= 400 or error is not None):
            self.metrics.record_error(route.endpoint, status, error)
