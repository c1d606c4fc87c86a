"""Database query metrics from SQLAlchemy engine events (sync and async engines alike)."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from folio_metrics.children import HistogramChild
from folio_metrics.native import DEFAULT_NATIVE
from folio_metrics.registry import MetricsRegistry

QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
QUERIES_PER_REQUEST_BUCKETS = (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89)
OPERATIONS = frozenset({"select", "insert", "update", "delete"})
_STARTED = "folio_metrics_started"
_MAX_CACHED_STATEMENTS = 2048


class DatabaseMetrics:
    """db_* families, fed by one or more instrumented engines."""

    def __init__(self, registry: MetricsRegistry) -> None:
        self.registry = registry
        self.queries = registry.counter(
            "db_queries_total", "Database statements run, by SQL verb.", ("operation",)
        )
        self.duration = registry.histogram(
            "db_query_duration_seconds",
            "Time spent executing each SQL statement, by SQL verb.",
            ("operation",),
            buckets=QUERY_BUCKETS,
            native=DEFAULT_NATIVE,
        )
        self.errors = registry.counter(
            "db_query_errors_total",
            "Database statements that failed, by SQL verb and exception class; "
            "constraint violations are counted apart.",
            ("operation", "type"),
        )
        # The database enforcing a unique key or a foreign key is working as designed, and
        # the app usually answers it with a 4xx (a duplicate slug is a 409): not an error.
        self.constraint_violations = registry.counter(
            "db_constraint_violations_total",
            "Database statements refused by a constraint (IntegrityError), by SQL verb.",
            ("operation",),
        )
        self.per_request = registry.histogram(
            "db_queries_per_request",
            "Database statements one HTTP request ran; a high tail means N+1 queries.",
            ("endpoint",),
            buckets=QUERIES_PER_REQUEST_BUCKETS,
        )
        # Each worker has its own pool.
        self.pool_connections = registry.gauge(
            "db_pool_connections",
            "Pooled database connections by state.",
            ("state",),
            aggregate="per_worker",
        )
        self.pool_max = registry.gauge(
            "db_pool_max_connections",
            "The most connections the pool will open at once.",
            aggregate="per_worker",
        )
        self._request_count: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
            "folio_metrics_db_queries_in_request", default=None
        )
        self._operations: dict[str, str] = {}
        # Bounded by the family's series cap: overflowed endpoints are never kept.
        self._per_request: dict[str, HistogramChild] = {}

    def instrument(self, engine: Engine | AsyncEngine) -> None:
        """Listen to ``engine``'s events; for an async engine, to its sync core."""
        sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        event.listen(sync_engine, "before_cursor_execute", self._before)
        event.listen(sync_engine, "after_cursor_execute", self._after)
        event.listen(sync_engine, "handle_error", self._failed)
        for verb in ("begin", "commit", "rollback"):
            event.listen(sync_engine, verb, self._transaction_counter(verb))
        self.registry.on_collect("db_pool", self._pool_reader(sync_engine))

    # The request-scoped count (RequestQueries protocol of the HTTP middleware).
    def start(self) -> object:
        # The count itself is the token, so finish() needs no context lookup. Nothing is
        # reset: servers run each request in a task of its own, whose context is its own,
        # and the next request on a task sets a fresh count.
        count = [0]
        self._request_count.set(count)
        return count

    def finish(self, token: object, endpoint: str) -> None:
        count: list[int] = token  # type: ignore[assignment]
        child = self._per_request.get(endpoint)
        if child is None:
            child = self.per_request.labels(endpoint)
            if not self.per_request.is_overflow(child):
                self._per_request[endpoint] = child
        child.observe(count[0])

    def operation(self, statement: str) -> str:
        operation = self._operations.get(statement)
        if operation is None:
            words = statement.lstrip(" \t\r\n(").split(None, 1)
            verb = words[0].lower() if words else ""
            operation = verb if verb in OPERATIONS else "other"
            if len(self._operations) >= _MAX_CACHED_STATEMENTS:
                self._operations.clear()
            self._operations[statement] = operation
        return operation

    def _before(
        self, _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        if context is not None:
            setattr(context, _STARTED, time.perf_counter())

    def _after(
        self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        try:
            started = getattr(context, _STARTED, None)
            operation = self.operation(statement)
            self.queries.labels(operation).inc()
            if started is not None:
                self.duration.labels(operation).observe(time.perf_counter() - started)
            self._count_in_request()
        except Exception:
            self.registry.record_hook_error("db_after_cursor_execute")

    def _failed(self, exception_context: Any) -> None:
        try:
            operation = self.operation(exception_context.statement or "")
            error = exception_context.original_exception
            self.queries.labels(operation).inc()
            if isinstance(exception_context.sqlalchemy_exception, IntegrityError):
                self.constraint_violations.labels(operation).inc()
            else:
                self.errors.labels(operation, type(error).__name__).inc()
            self._count_in_request()
        except Exception:
            self.registry.record_hook_error("db_handle_error")

    def _count_in_request(self) -> None:
        counter = self._request_count.get()
        if counter is not None:
            counter[0] += 1

    def _transaction_counter(self, verb: str) -> Callable[..., None]:
        child = self.queries.labels(verb)

        def count(*_: Any) -> None:
            child.inc()

        return count

    def _pool_reader(self, engine: Engine) -> Callable[[], None]:
        pool = engine.pool

        def read() -> None:
            # Only QueuePool and its async twin report sizes; NullPool and StaticPool don't.
            if not isinstance(pool, QueuePool):
                return
            self.pool_connections.labels("in_use").set(pool.checkedout())
            self.pool_connections.labels("idle").set(pool.checkedin())
            self.pool_max.unlabelled().set(pool.size() + max(pool._max_overflow, 0))

        return read
