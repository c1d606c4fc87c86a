"""The http_* and app_errors_total families, and per-route pre-bound children."""

from __future__ import annotations

from dataclasses import dataclass, field

from folio_metrics.families import CounterChild, GaugeChild, HistogramChild
from folio_metrics.registry import MetricsRegistry

# An API answers in milliseconds; the tail up to 10 s catches a stuck database.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
# Powers of 4 from 64 B to 4 MiB: headers-only replies to uploads at the body cap.
SIZE_BUCKETS = tuple(float(4**power) for power in range(3, 12))

STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
OTHER_METHOD = "other"

# app_errors_total{type}: the kind of each 4xx the app answers; exceptions use class names.
ERROR_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation",
    429: "too_many_requests",
}
DEFAULT_MAX_ROUTE_SERIES = 2000


@dataclass(slots=True)
class RouteChildren:
    """Every child one (method, endpoint) pair needs, bound once and reused."""

    in_progress: GaugeChild
    duration: HistogramChild
    request_size: HistogramChild
    response_size: HistogramChild
    requests: dict[int, CounterChild] = field(default_factory=dict)


class HttpMetrics:
    """Defines the HTTP families in ``registry`` and hands out pre-bound children."""

    def __init__(
        self, registry: MetricsRegistry, *, max_series: int = DEFAULT_MAX_ROUTE_SERIES
    ) -> None:
        self.registry = registry
        route_labels = ("method", "endpoint")
        self.requests = registry.counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            (*route_labels, "status"),
            max_series=max_series,
        )
        self.duration = registry.histogram(
            "http_request_duration_seconds",
            "Server time per request: arrival to end of response, less waits for the client.",
            route_labels,
            buckets=DURATION_BUCKETS,
            max_series=max_series,
        )
        self.in_progress = registry.gauge(
            "http_requests_in_progress",
            "HTTP requests being served now.",
            route_labels,
            max_series=max_series,
        )
        self.request_size = registry.histogram(
            "http_request_size_bytes",
            "Size of request bodies as received.",
            route_labels,
            buckets=SIZE_BUCKETS,
            max_series=max_series,
        )
        self.response_size = registry.histogram(
            "http_response_size_bytes",
            "Size of response bodies as sent.",
            route_labels,
            buckets=SIZE_BUCKETS,
            max_series=max_series,
        )
        self.errors = registry.counter(
            "app_errors_total",
            "Errors by kind: unhandled exceptions by class name, 4xx answers by kind.",
            ("endpoint", "type"),
            max_series=max_series,
        )
        self._bound: dict[tuple[str, str], RouteChildren] = {}

    def bind(self, method: str, endpoint: str) -> RouteChildren:
        """The children for this route; cached unless the series cap sent any to overflow."""
        key = (method, endpoint)
        children = self._bound.get(key)
        if children is None:
            children = RouteChildren(
                self.in_progress.labels(method, endpoint),
                self.duration.labels(method, endpoint),
                self.request_size.labels(method, endpoint),
                self.response_size.labels(method, endpoint),
            )
            if not self._overflowed(children):
                self._bound[key] = children
        return children

    def count_request(
        self, children: RouteChildren, method: str, endpoint: str, status: int
    ) -> CounterChild:
        counter = children.requests.get(status)
        if counter is None:
            counter = self.requests.labels(method, endpoint, str(status))
            if not self.requests.is_overflow(counter):
                children.requests[status] = counter
        return counter

    def record_error(self, endpoint: str, status: int, exception: BaseException | None) -> None:
        if exception is not None:
            kind = type(exception).__name__
        elif status in ERROR_KINDS:
            kind = ERROR_KINDS[status]
        elif 400 <= status < 500 and status != 499:
            kind = "client_error"
        elif status >= 500:
            kind = "server_error"
        else:
            return
        self.errors.labels(endpoint, kind).inc()

    def _overflowed(self, children: RouteChildren) -> bool:
        return (
            self.in_progress.is_overflow(children.in_progress)
            or self.duration.is_overflow(children.duration)
            or self.request_size.is_overflow(children.request_size)
            or self.response_size.is_overflow(children.response_size)
        )
