"""folio_metrics: Prometheus instrumentation that any ASGI app can use.

Build a ``MetricsRegistry`` per app, define families on it, wrap the app in
``MetricsMiddleware`` and serve the registry with ``MetricsEndpoint``. Nothing here is
global, and nothing here imports folio.api or folio.web.

Database metrics live in ``folio_metrics.db`` and are imported from there, so that apps
without SQLAlchemy never pay for importing it.
"""

from folio_metrics.connections import ConnectionTracker, uvicorn_protocol
from folio_metrics.endpoint import MetricsEndpoint
from folio_metrics.exposition import render
from folio_metrics.families import OVERFLOW_LABEL_VALUE
from folio_metrics.http import HttpMetrics
from folio_metrics.middleware import MetricsMiddleware
from folio_metrics.registry import MetricsRegistry
from folio_metrics.routes import UNMATCHED, StarletteRouteResolver
from folio_metrics.runtime import LoopLagSampler, export_build_info, export_process_metrics
from folio_metrics.service import ServiceMetrics

__all__ = [
    "OVERFLOW_LABEL_VALUE",
    "UNMATCHED",
    "ConnectionTracker",
    "HttpMetrics",
    "LoopLagSampler",
    "MetricsEndpoint",
    "MetricsMiddleware",
    "MetricsRegistry",
    "ServiceMetrics",
    "StarletteRouteResolver",
    "export_build_info",
    "export_process_metrics",
    "render",
    "uvicorn_protocol",
]
