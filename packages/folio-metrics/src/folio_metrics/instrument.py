"""``instrument(app)``: the http_* metrics and a /metrics endpoint for any ASGI app, in one call."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry

from folio_metrics.asgi import Receive, Scope, Send
from folio_metrics.endpoint import MetricsEndpoint
from folio_metrics.families import DEFAULT_MAX_SERIES
from folio_metrics.frameworks import resolver_for
from folio_metrics.http import DEFAULT_MAX_ROUTE_SERIES, HttpMetrics
from folio_metrics.interop import PrometheusClientMetrics
from folio_metrics.labels import Exclusions, ExtraLabel
from folio_metrics.middleware import MetricsMiddleware, RequestQueries
from folio_metrics.multiprocess import WorkerMetrics
from folio_metrics.native import DEFAULT_NATIVE, NativeBuckets
from folio_metrics.registry import MetricsRegistry
from folio_metrics.routes import UNMATCHED, RouteResolver
from folio_metrics.runtime import LoopLagSampler, StoragePublisher, export_process_metrics

# The directory worker processes share, when the code names none; unset: one process.
DIRECTORY_ENV = "FOLIO_METRICS_DIR"


def create_registry(
    *, multiprocess_dir: str | os.PathLike[str] | None = None, max_series: int = DEFAULT_MAX_SERIES
) -> MetricsRegistry:
    """A registry, shared with other worker processes if a directory is given or
    ``FOLIO_METRICS_DIR`` is set."""
    directory = multiprocess_dir or os.environ.get(DIRECTORY_ENV) or None
    if directory is None:
        return MetricsRegistry(default_max_series=max_series)

    return MetricsRegistry(default_max_series=max_series, storage=WorkerMetrics(Path(directory)))


def reset_multiprocess_dir(path: str | os.PathLike[str]) -> None:
    """Create ``path``, or remove a previous run's files from it; call it once, before any
    worker starts (for example in gunicorn's ``on_starting`` hook)."""
    from folio_metrics.multiprocess import MetricsDirectory

    MetricsDirectory.reset(Path(path))


def instrument(
    app: Any,
    *,
    registry: MetricsRegistry | None = None,
    metrics_path: str | None = "/metrics",
    token: str | None = None,
    namespace: str = "",
    buckets: Mapping[str, Sequence[float]] | None = None,
    exclude: Collection[str | re.Pattern[str]] = (),
    const_labels: Mapping[str, str] | None = None,
    extra_label: ExtraLabel | None = None,
    group_status: bool = False,
    native: NativeBuckets | None = DEFAULT_NATIVE,
    resolver: RouteResolver | None = None,
    runtime: bool = False,
    prometheus_client: bool | CollectorRegistry = True,
    queries: RequestQueries | None = None,
    multiprocess_dir: str | os.PathLike[str] | None = None,
    max_series: int = DEFAULT_MAX_ROUTE_SERIES,
) -> Any:
    """Record every http_* family for ``app`` and serve them at ``metrics_path``; returns
    the ASGI app to serve: ``app`` itself for Starlette and FastAPI, else a wrapper.

    ``prometheus_client`` brings in the metrics of its default registry (True), of the
    given registry, or none (False). ``runtime`` adds process, GC and event-loop lag
    metrics. ``native`` sets how request durations count as a native histogram, served to
    scrapers that ask for protobuf; None keeps classic buckets only. ``queries`` counts
    each request's database queries
    (``folio_metrics.db.DatabaseMetrics``). The README's options table says the rest.
    """
    if metrics_path is not None and not metrics_path.startswith("/"):
        raise ValueError(f"metrics_path must start with '/', got {metrics_path!r}")
    if isinstance(exclude, str):
        raise TypeError(f"exclude takes a list of templates or patterns, not the str {exclude!r}")
    if token is not None and not token.strip():
        raise ValueError("token is blank: pass None to serve the metrics without one")
    if registry is not None and multiprocess_dir is not None:
        raise ValueError("pass multiprocess_dir to create_registry(), not beside registry=")
    if registry is None:
        registry = create_registry(multiprocess_dir=multiprocess_dir)
    http = HttpMetrics(
        registry,
        max_series=max_series,
        namespace=namespace,
        buckets=buckets,
        const_labels=const_labels,
        extra_label=extra_label.name if extra_label is not None else None,
        group_status=group_status,
        native=native,
    )
    if prometheus_client is not False:
        source = REGISTRY if prometheus_client is True else prometheus_client
        bridge = PrometheusClientMetrics(
            registry.families, source, on_error=registry.record_hook_error
        )
        registry.bridge(bridge)
    # Started on the event loop by the first scope (lifespan or request) the app sees.
    on_start = StoragePublisher(registry).start
    if runtime:
        export_process_metrics(registry)
        on_start = LoopLagSampler(registry).start  # which publishes on its tick too
    resolver = resolver or resolver_for(app) or _unmatched
    endpoint = MetricsEndpoint(registry, token=token) if metrics_path is not None else None
    options: dict[str, Any] = {
        "metrics": http,
        "resolver": resolver,
        "exclude": Exclusions([*exclude, *([metrics_path] if metrics_path else [])]),
        "extra_label": extra_label,
        "on_start": on_start,
        "queries": queries,
    }
    if hasattr(app, "add_middleware") and hasattr(app, "router"):
        # Starlette and FastAPI: the same object, with a route and a middleware added.
        if endpoint is not None and metrics_path is not None:
            from folio_metrics.metrics_route import MetricsRoute

            app.router.routes.insert(0, MetricsRoute(metrics_path, endpoint))
        app.add_middleware(MetricsMiddleware, **options)
        return app
    return InstrumentedApp(MetricsMiddleware(app, **options), metrics_path, endpoint)


class InstrumentedApp:
    """Any ASGI app behind the metrics middleware, with the registry served at one path."""

    def __init__(
        self, app: MetricsMiddleware, metrics_path: str | None, endpoint: MetricsEndpoint | None
    ) -> None:
        self.app = app
        self.metrics_path = metrics_path
        self.endpoint = endpoint
        self.registry = app.metrics.registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.endpoint is not None
            and scope["type"] == "http"
            and scope["path"].removeprefix(scope.get("root_path", "")) == self.metrics_path
        ):
            await self.endpoint(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _unmatched(scope: Scope) -> str:
    return UNMATCHED
