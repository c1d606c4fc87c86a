"""The one small FastAPI app of the overhead benchmark, bare or instrumented by each library.

uvicorn loads it with ``bench.overhead_apps:app --factory`` and the variant in the
``FOLIO_BENCH_VARIANT`` environment variable; ``create_app(variant)`` builds it directly.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from folio_metrics import ServiceMetrics

VARIANT_ENV = "FOLIO_BENCH_VARIANT"
VARIANTS = (
    "bare",
    "empty-middleware",
    "minimal",
    "folio",
    "instrumentator",
    "starlette-exporter",
    "opentelemetry",
)
# Variants that serve /metrics; once /api/projects/42 was served, its route template shows
# there: the proof the instrumentation works with this FastAPI and Starlette, not just imports.
INSTRUMENTED = frozenset(
    {"minimal", "folio", "instrumentator", "starlette-exporter", "opentelemetry"}
)
ROUTE_TEMPLATE = "/api/projects/{project_id}"


class ProjectIn(BaseModel):
    name: str
    description: str = ""
    tags: list[str] = []


class PassThroughMiddleware:
    """The floor for any middleware: one more ASGI call per request, nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class MinimalMetricsMiddleware:
    """The floor for a metrics middleware: wrap send for the status, count and time, no more.

    One prometheus_client counter and histogram under the route Starlette matched; no sizes,
    no in-progress gauge, no series cap, no hook guard.
    """

    def __init__(self, app: ASGIApp, registry: Any) -> None:
        from prometheus_client import Counter, Histogram

        self.app = app
        labels = ("method", "endpoint")
        self.requests = Counter(
            "http_requests_total", "Requests.", (*labels, "status"), registry=registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds", "Time.", labels, registry=registry
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            endpoint = getattr(scope.get("route"), "path_format", "<unmatched>")
            self.requests.labels(scope["method"], endpoint, str(status)).inc()
            self.duration.labels(scope["method"], endpoint).observe(time.perf_counter() - started)


def _base_app(**options: Any) -> FastAPI:
    app = FastAPI(title="folio overhead bench", **options)

    @app.get("/api/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(ROUTE_TEMPLATE)
    async def project(project_id: int) -> dict[str, Any]:
        return {
            "id": project_id,
            "name": f"project {project_id}",
            "owner": "bench",
            "tags": ["python", "fastapi"],
            "public": True,
        }

    @app.post("/api/projects", status_code=201)
    async def create_project(body: ProjectIn) -> ProjectIn:
        return body

    return app


def _bare() -> FastAPI:
    return _base_app()


def _empty_middleware() -> FastAPI:
    app = _base_app()
    app.add_middleware(PassThroughMiddleware)
    return app


def _minimal() -> FastAPI:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry()
    app = _base_app()

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_route("/metrics", metrics, include_in_schema=False)
    app.add_middleware(MinimalMetricsMiddleware, registry=registry)
    return app


def _folio() -> FastAPI:
    from folio_metrics import ServiceMetrics

    metrics = ServiceMetrics(service="bench", version="0", commit="bench", max_series=2000)
    return folio_instrumented(metrics, _base_app)


def folio_instrumented(metrics: ServiceMetrics, build: Callable[..., FastAPI]) -> FastAPI:
    """``build(lifespan=...)`` with ``metrics`` installed, as folio's services install them."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # As folio's services do: the loop-lag sampler runs beside the requests.
        metrics.loop_lag.start()
        try:
            yield
        finally:
            await metrics.loop_lag.stop()

    app = build(lifespan=lifespan)
    metrics.install(app, path="/metrics")
    return app


def _instrumentator() -> FastAPI:
    from prometheus_client import CollectorRegistry
    from prometheus_fastapi_instrumentator import Instrumentator

    app = _base_app()
    Instrumentator(registry=CollectorRegistry()).instrument(app).expose(app)
    return app


def _starlette_exporter() -> FastAPI:
    from starlette_exporter import PrometheusMiddleware, handle_metrics

    app = _base_app()
    app.add_middleware(PrometheusMiddleware)
    app.add_route("/metrics", handle_metrics)
    return app


def _opentelemetry() -> FastAPI:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    app = _base_app()

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.add_route("/metrics", metrics, include_in_schema=False)
    # Metrics only: no tracer provider is set, so the spans it opens are the API's no-ops.
    FastAPIInstrumentor.instrument_app(app, meter_provider=provider, excluded_urls="/metrics")
    return app


FACTORIES: dict[str, Callable[[], FastAPI]] = {
    "bare": _bare,
    "empty-middleware": _empty_middleware,
    "minimal": _minimal,
    "folio": _folio,
    "instrumentator": _instrumentator,
    "starlette-exporter": _starlette_exporter,
    "opentelemetry": _opentelemetry,
}


def create_app(variant: str) -> FastAPI:
    """The benchmark app as ``variant`` instruments it; a peer's import errors propagate."""
    try:
        factory = FACTORIES[variant]
    except KeyError:
        raise ValueError(f"unknown variant {variant!r}; one of {', '.join(VARIANTS)}") from None
    return factory()


def app() -> FastAPI:
    """uvicorn's ``--factory`` entry point: the variant comes from FOLIO_BENCH_VARIANT."""
    return create_app(os.environ.get(VARIANT_ENV, "bare"))
