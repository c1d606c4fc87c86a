"""folio-web for the throughput benchmark: as shipped, or without folio_metrics' HTTP layer.

uvicorn loads it with ``bench.web_apps:app --factory`` and the variant in the
``FOLIO_BENCH_WEB_VARIANT`` environment variable; ``create_app(variant)`` builds it directly.
Both read every other setting (FOLIO_API_URL, the beacon rate limits) as folio-web does.
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from folio_metrics import MetricsMiddleware
from starlette.routing import BaseRoute, Route

from folio.web.app import create_app as create_web_app
from folio.web.observability import METRICS_PATH
from folio.web.settings import WebSettings

VARIANT_ENV = "FOLIO_BENCH_WEB_VARIANT"
VARIANTS = ("metrics-on", "metrics-off")


def _is_metrics_route(route: BaseRoute) -> bool:
    return isinstance(route, Route) and route.path == METRICS_PATH


def without_http_metrics(app: FastAPI) -> FastAPI:
    """``app`` minus the MetricsMiddleware and the /api/metrics route, before it first runs.

    Starlette builds its middleware stack from ``user_middleware`` at the first call (the
    lifespan's), so entries removed before then never run; after it, removal is refused.
    """
    if app.middleware_stack is not None:
        raise RuntimeError("the middleware stack is built already: too late to remove from it")
    middleware = [entry for entry in app.user_middleware if entry.cls is not MetricsMiddleware]
    routes = [route for route in app.router.routes if not _is_metrics_route(route)]
    if len(app.user_middleware) - len(middleware) != 1 or len(app.routes) - len(routes) != 1:
        raise RuntimeError(f"expected one MetricsMiddleware and one {METRICS_PATH} route")
    app.user_middleware[:] = middleware
    app.router.routes[:] = routes
    return app


def create_app(variant: str) -> FastAPI:
    """folio-web as ``variant`` has it: exactly as shipped, or with its HTTP metrics removed."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}")
    app = create_web_app(WebSettings())
    return app if variant == "metrics-on" else without_http_metrics(app)


def app() -> FastAPI:
    """uvicorn's ``--factory`` entry point: the variant comes from FOLIO_BENCH_WEB_VARIANT."""
    return create_app(os.environ.get(VARIANT_ENV, "metrics-on"))
