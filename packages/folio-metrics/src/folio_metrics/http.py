"""The http_* and app_errors_total families, and per-route pre-bound children."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from folio_metrics.children import Cells, CounterChild, GaugeChild, HistogramChild
from folio_metrics.native import DEFAULT_NATIVE, NativeBuckets
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
_DEFAULT_BUCKETS: dict[str, Sequence[float]] = {
    "http_request_duration_seconds": DURATION_BUCKETS,
    "http_request_size_bytes": SIZE_BUCKETS,
    "http_response_size_bytes": SIZE_BUCKETS,
}
# The histograms whose buckets ``HttpMetrics(buckets=...)`` may set, by unprefixed name.
HISTOGRAMS = (
    "http_request_duration_seconds",
    "http_request_size_bytes",
    "http_response_size_bytes",
)


@dataclass(slots=True)
class RouteChildren:
    """Every child one (method, endpoint) pair needs, bound once and reused."""

    method: str
    endpoint: str
    in_progress: GaugeChild
    duration: HistogramChild
    request_size: HistogramChild
    response_size: HistogramChild
    # The label values after method and endpoint: the extra label's, then the constants.
    tail: tuple[str, ...] = ()
    requests: dict[int, CounterChild] = field(default_factory=dict)
    # False for children past a series cap: they are handed out, never kept.
    kept: bool = True
    # The in-progress gauge's cells, moved up and down without two calls per request.
    in_progress_cells: Cells = field(init=False)

    def __post_init__(self) -> None:
        self.in_progress_cells = self.in_progress.cells


class HttpMetrics:
    """Defines the HTTP families in ``registry`` and hands out pre-bound children."""

    def __init__(
        self,
        registry: MetricsRegistry,
        *,
        max_series: int = DEFAULT_MAX_ROUTE_SERIES,
        namespace: str = "",
        buckets: Mapping[str, Sequence[float]] | None = None,
        const_labels: Mapping[str, str] | None = None,
        extra_label: str | None = None,
        group_status: bool = False,
        native: NativeBuckets | None = DEFAULT_NATIVE,
    ) -> None:
        """``namespace`` prefixes every family name; ``buckets`` overrides a histogram's
        buckets by its unprefixed name; ``const_labels`` are added to every series;
        ``extra_label`` names one more label whose value the middleware supplies;
        ``group_status`` counts status codes as ``2xx``, ``4xx`` and so on; and ``native``
        is how request durations count natively too (None: classic buckets only)."""
        unknown = set(buckets or ()) - set(HISTOGRAMS)
        if unknown:
            raise ValueError(
                f"buckets given for {sorted(unknown)}, which are not HTTP histograms; "
                f"choose from {list(HISTOGRAMS)}"
            )
        chosen = {**_DEFAULT_BUCKETS, **(buckets or {})}
        prefix = f"{namespace}_" if namespace else ""
        self.registry = registry
        self.group_status = group_status
        self.const_values = tuple((const_labels or {}).values())
        self.extra = extra_label is not None
        tail = (*(() if extra_label is None else (extra_label,)), *(const_labels or {}))
        route_labels = ("method", "endpoint", *tail)
        self.requests = registry.counter(
            prefix + "http_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "endpoint", "status", *tail),
            max_series=max_series,
        )
        self.duration = registry.histogram(
            prefix + "http_request_duration_seconds",
            "Server time per request: arrival to end of response, less waits for the client.",
            route_labels,
            buckets=chosen["http_request_duration_seconds"],
            max_series=max_series,
            native=native,
        )
        self.in_progress = registry.gauge(
            prefix + "http_requests_in_progress",
            "HTTP requests being served now.",
            route_labels,
            max_series=max_series,
        )
        self.request_size = registry.histogram(
            prefix + "http_request_size_bytes",
            "Size of request bodies as received.",
            route_labels,
            buckets=chosen["http_request_size_bytes"],
            max_series=max_series,
        )
        self.response_size = registry.histogram(
            prefix + "http_response_size_bytes",
            "Size of response bodies as sent.",
            route_labels,
            buckets=chosen["http_response_size_bytes"],
            max_series=max_series,
        )
        self.errors = registry.counter(
            prefix + "app_errors_total",
            "Errors by kind: unhandled exceptions by class name, 4xx answers by kind.",
            ("endpoint", "type", *(const_labels or {})),
            max_series=max_series,
        )
        self._bound: dict[tuple[str, ...], RouteChildren] = {}

    def bind(self, method: str, endpoint: str, extra: str = "") -> RouteChildren:
        """The children for this route; cached unless the series cap sent any to overflow."""
        key = (method, endpoint, extra)
        children = self._bound.get(key)
        if children is None:
            values = (method, endpoint, *((extra,) if self.extra else ()), *self.const_values)
            children = RouteChildren(
                method,
                endpoint,
                self.in_progress.labels(*values),
                self.duration.labels(*values),
                self.request_size.labels(*values),
                self.response_size.labels(*values),
                values[2:],
            )
            if self._overflowed(children):
                children.kept = False
            else:
                self._bound[key] = children
        return children

    def count_request(self, children: RouteChildren, status: int) -> CounterChild:
        """The http_requests_total child for this route and status, bound once."""
        counter = children.requests.get(status)
        if counter is None:
            code = f"{status // 100}xx" if self.group_status else str(status)
            counter = self.requests.labels(children.method, children.endpoint, code, *children.tail)
            if not self.requests.is_overflow(counter):
                children.requests[status] = counter
        return counter

    def record_error(self, endpoint: str, status: int, exception: BaseException | None) -> None:
        """Count a 4xx, 5xx or exception in app_errors_total under its kind."""
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
        self.errors.labels(endpoint, kind, *self.const_values).inc()

    def _overflowed(self, children: RouteChildren) -> bool:
        return (
            self.in_progress.is_overflow(children.in_progress)
            or self.duration.is_overflow(children.duration)
            or self.request_size.is_overflow(children.request_size)
            or self.response_size.is_overflow(children.response_size)
        )
