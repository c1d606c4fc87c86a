"""folio_metrics: Prometheus metrics for any ASGI app.

``app = folio_metrics.instrument(app)`` records the http_* families under route templates
and serves them at /metrics. For more, build the pieces yourself: a ``MetricsRegistry``
(``create_registry``), families defined on it, ``MetricsMiddleware`` around the app and
``MetricsEndpoint`` to serve it. Nothing here is global.

Database metrics live in ``folio_metrics.db`` and Litestar's resolver in
``folio_metrics.litestar``; import them from there, so that apps without SQLAlchemy or
Litestar never pay for importing them.
"""

from folio_metrics.bearer import bearer_matches, token_matches
from folio_metrics.children import Cells
from folio_metrics.connections import ConnectionTracker, TimeoutPhase, uvicorn_protocol
from folio_metrics.endpoint import MetricsEndpoint
from folio_metrics.exposition import render
from folio_metrics.families import (
    OVERFLOW_LABEL_VALUE,
    Aggregate,
    Allocator,
    AnyFamily,
    CounterFamily,
    GaugeFamily,
    HistogramFamily,
)
from folio_metrics.frameworks import resolver_for
from folio_metrics.http import HttpMetrics
from folio_metrics.instrument import (
    DIRECTORY_ENV,
    InstrumentedApp,
    create_registry,
    instrument,
    reset_multiprocess_dir,
)
from folio_metrics.interop import PrometheusClientMetrics
from folio_metrics.labels import Exclusions, ExtraLabel
from folio_metrics.middleware import (
    ROUTE_SCOPE_KEY,
    SERVER_STATUS_SCOPE_KEY,
    MetricsMiddleware,
    PeerTracker,
    RequestQueries,
)
from folio_metrics.native import NativeBuckets
from folio_metrics.protobuf import PROTOBUF_CONTENT_TYPE, render_protobuf
from folio_metrics.registry import MetricsRegistry
from folio_metrics.routes import (
    UNMATCHED,
    RouteResolver,
    StarletteRouteResolver,
    resolve_path,
)
from folio_metrics.runtime import (
    LoopLagSampler,
    StoragePublisher,
    export_build_info,
    export_process_metrics,
)
from folio_metrics.service import ServiceMetrics
from folio_metrics.storage import SeriesStorage, StorageOwner
from folio_metrics.tracing import trace_exemplar

__all__ = [
    "DIRECTORY_ENV",
    "OVERFLOW_LABEL_VALUE",
    "PROTOBUF_CONTENT_TYPE",
    "ROUTE_SCOPE_KEY",
    "SERVER_STATUS_SCOPE_KEY",
    "UNMATCHED",
    "Aggregate",
    "Allocator",
    "AnyFamily",
    "Cells",
    "ConnectionTracker",
    "CounterFamily",
    "Exclusions",
    "ExtraLabel",
    "GaugeFamily",
    "HistogramFamily",
    "HttpMetrics",
    "InstrumentedApp",
    "LoopLagSampler",
    "MetricsEndpoint",
    "MetricsMiddleware",
    "MetricsRegistry",
    "NativeBuckets",
    "PeerTracker",
    "PrometheusClientMetrics",
    "RequestQueries",
    "RouteResolver",
    "SeriesStorage",
    "ServiceMetrics",
    "StarletteRouteResolver",
    "StorageOwner",
    "StoragePublisher",
    "TimeoutPhase",
    "bearer_matches",
    "create_registry",
    "export_build_info",
    "export_process_metrics",
    "instrument",
    "render",
    "render_protobuf",
    "reset_multiprocess_dir",
    "resolve_path",
    "resolver_for",
    "token_matches",
    "trace_exemplar",
    "uvicorn_protocol",
]
