"""folio.metrics: Prometheus instrumentation that any ASGI app can use.

Build a ``MetricsRegistry`` per app, define families on it, wrap the app in
``MetricsMiddleware`` and serve the registry with ``MetricsEndpoint``. Nothing here is
global, and nothing here imports folio.api or folio.web.

Database metrics live in ``folio.metrics.db`` and are imported from there, so that apps
without SQLAlchemy never pay for importing it.
"""

from folio.metrics.connections import ConnectionTracker, uvicorn_protocol
from folio.metrics.endpoint import MetricsEndpoint
from folio.metrics.exposition import render
from folio.metrics.families import OVERFLOW_LABEL_VALUE
from folio.metrics.http import HttpMetrics
from folio.metrics.middleware import MetricsMiddleware
from folio.metrics.registry import MetricsRegistry
from folio.metrics.routes import UNMATCHED, StarletteRouteResolver
from folio.metrics.runtime import LoopLagSampler, export_build_info, export_process_metrics
from folio.metrics.service import ServiceMetrics

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
