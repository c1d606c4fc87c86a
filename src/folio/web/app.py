"""Build the folio-web application: pages, static assets, browser beacons and metrics.

Also the operator pages, /status and /runbook, unless FOLIO_STATUS_PAGE switches them off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from folio import __version__
from folio.draining import Drain
from folio.http_methods import HttpMethodsMiddleware
from folio.json_errors import error_body, routing_message
from folio.served import ServedApp
from folio.web import pages, runbook, security
from folio.web.api_client import ApiClient
from folio.web.assets import StaticAssets
from folio.web.observability import WebObservability
from folio.web.prometheus import PrometheusClient
from folio.web.routes import pages as page_routes
from folio.web.routes import rum as rum_routes
from folio.web.routes import runbook as runbook_routes
from folio.web.routes import status as status_routes
from folio.web.rum import BeaconIntake
from folio.web.settings import WebSettings
from folio.web.status_access import StatusAccess

TEMPLATES_DIR = Path(__file__).parent / "templates"


def create_app(
    settings: WebSettings | None = None,
    *,
    api_transport: httpx.AsyncBaseTransport | None = None,
    prometheus_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """A folio-web app; the transports let tests see or reroute its outgoing calls."""
    return create_served_app(
        settings, api_transport=api_transport, prometheus_transport=prometheus_transport
    ).app


def create_served_app(
    settings: WebSettings | None = None,
    *,
    api_transport: httpx.AsyncBaseTransport | None = None,
    prometheus_transport: httpx.AsyncBaseTransport | None = None,
) -> ServedApp:
    """folio-web with the connection tracker and drain that `folio web` drives."""
    settings = settings or WebSettings()
    observability = WebObservability(settings)
    api = ApiClient(
        settings.api_url,
        observability.registry,
        timeout=settings.api_timeout_seconds,
        retries=settings.api_retries,
        transport=api_transport,
    )
    assets = StaticAssets()
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    templates.env.globals["static_url"] = assets.url
    renderer = pages.PageRenderer(templates, observability)
    prometheus = (
        PrometheusClient(settings.prometheus_url, transport=prometheus_transport)
        if settings.prometheus_url and settings.status_page
        else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        observability.loop_lag.start()
        try:
            yield
        finally:
            await observability.loop_lag.stop()
            await api.aclose()
            if prometheus is not None:
                await prometheus.aclose()

    app = FastAPI(
        title="folio-web",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.observability = observability
    app.state.api = api
    app.state.prometheus = prometheus
    app.state.templates = templates
    app.state.renderer = renderer
    app.state.beacon_intake = BeaconIntake(settings, observability)
    app.state.drain = drain = Drain()
    app.add_api_route("/api/health", _liveness, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(
        "/api/health/ready", _readiness, methods=["GET", "HEAD"], include_in_schema=False
    )
    app.include_router(page_routes.router)
    app.include_router(rum_routes.router)
    if settings.status_page:  # switched off: no routes, so /status and /runbook are plain 404s
        app.state.status_access = StatusAccess(settings)
        app.state.runbook_html = runbook.render_runbook()
        app.include_router(status_routes.router)
        app.include_router(runbook_routes.router)
    app.mount("/static", assets.app(), name="static")
    _install_error_pages(app, renderer, observability)
    # Inside the metrics middleware, so a HEAD is counted as HEAD, not as the GET it runs.
    app.add_middleware(HttpMethodsMiddleware)
    observability.install_on(app)
    security.install(app)
    return ServedApp(app, observability.connections, drain)


async def _liveness() -> dict[str, str]:
    """The process is up; never calls folio-api (the pages report that one)."""
    return {"status": "ok"}


async def _readiness(request: Request) -> JSONResponse:
    """Ready unless stopping. folio-api being down does not count: pages degrade, not fail."""
    if request.app.state.drain.active:
        return JSONResponse({"status": "draining"}, status_code=503)
    return JSONResponse({"status": "ready"})


def _install_error_pages(
    app: FastAPI, renderer: pages.PageRenderer, observability: WebObservability
) -> None:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            # Paths for machines (beacons, health, metrics) answer in the JSON error shape.
            phrase = HTTPStatus(exc.status_code).phrase
            code = phrase.lower().replace(" ", "_").replace("-", "_")
            body = error_body(code, routing_message(phrase, request.method, request.url.path))
            return JSONResponse(body, exc.status_code, headers=exc.headers)
        if exc.status_code == 404:
            return renderer.error(
                request, 404, "Page not found", "There is nothing at this address."
            )
        return renderer.error(request, exc.status_code, "Something went wrong", str(exc.detail))

    async def server_error(request: Request, _exc: Exception) -> HTMLResponse:
        # The traceback goes to the server log (Starlette re-raises); the visitor sees a page.
        observability.client_errors.labels("ssr_error").inc()
        page = renderer.error(request, 500, "Something went wrong", "Please try again in a moment.")
        # Starlette sends this page from outside every middleware, so it adds its own headers.
        return security.add_to(page)

    async def client_gone(_request: Request, _exc: Exception) -> Response:
        # The client left mid-body (a beacon cut short): not an SSR error; counted as a 499.
        return Response(status_code=400)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(ClientDisconnect, client_gone)
    app.add_exception_handler(Exception, server_error)
