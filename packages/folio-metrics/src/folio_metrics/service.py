"""The metrics every service has, built and installed in one place."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from folio_metrics.connections import ConnectionTracker
from folio_metrics.endpoint import MetricsEndpoint
from folio_metrics.http import HttpMetrics
from folio_metrics.middleware import MetricsMiddleware, RequestQueries
from folio_metrics.multiprocess import WorkerMetrics
from folio_metrics.registry import MetricsRegistry
from folio_metrics.runtime import LoopLagSampler, export_build_info, export_process_metrics

if TYPE_CHECKING:
    from starlette.applications import Starlette


class ServiceMetrics:
    """A registry with http_*, open connections, process and GC, loop lag and build info."""

    def __init__(
        self,
        *,
        service: str,
        version: str,
        commit: str,
        max_series: int,
        workers_dir: Path | None = None,
    ) -> None:
        # With workers_dir, this process is one of several workers sharing their metrics.
        workers = WorkerMetrics(workers_dir) if workers_dir is not None else None
        self.registry = MetricsRegistry(default_max_series=max_series, storage=workers)
        self.http = HttpMetrics(self.registry, max_series=max_series)
        self.connections = ConnectionTracker()
        self.connections.export(self.registry)
        export_process_metrics(self.registry)
        export_build_info(self.registry, service, version, commit)
        self.loop_lag = LoopLagSampler(self.registry)

    def install(
        self,
        app: Starlette,
        *,
        path: str = "/metrics",
        token: str | None = None,
        refusal_hint: str = "token",
        include_self: bool = False,
        queries: RequestQueries | None = None,
    ) -> None:
        """Serve the registry at ``path`` and wrap ``app`` in the HTTP middleware."""
        from folio_metrics.metrics_route import MetricsRoute
        from folio_metrics.routes import StarletteRouteResolver

        endpoint = MetricsEndpoint(self.registry, token=token, refusal_hint=refusal_hint)
        # A plain Starlette route: the endpoint is an ASGI app, not a FastAPI handler.
        app.router.routes.insert(0, MetricsRoute(path, endpoint))
        app.add_middleware(
            MetricsMiddleware,
            metrics=self.http,
            resolver=StarletteRouteResolver(app),
            exclude=() if include_self else (path,),
            peers=self.connections,
            queries=queries,
        )
