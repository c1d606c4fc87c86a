"""Build the folio-api FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from folio import __version__
from folio.api import docs
from folio.api.body_limit import BodyLimitMiddleware
from folio.api.content_version import VersionProbe
from folio.api.db import create_engine, create_session_factory
from folio.api.errors import install_error_handlers
from folio.api.observability import ApiObservability
from folio.api.project_reads import ProjectReads
from folio.api.routes import health, projects
from folio.api.settings import ApiSettings
from folio.draining import Drain
from folio.http_methods import HttpMethodsMiddleware
from folio.served import ServedApp


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """A folio-api app with its own engine; the engine is disposed of at shutdown."""
    return create_served_app(settings).app


def create_served_app(settings: ApiSettings | None = None) -> ServedApp:
    """folio-api with the connection tracker and drain that `folio api` drives."""
    settings = settings or ApiSettings()
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    observability = ApiObservability(settings, engine)
    probe = VersionProbe(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await observability.start(session_factory)
        await probe.start()
        try:
            yield
        finally:
            await probe.stop()
            await observability.stop()
            await engine.dispose()

    app = FastAPI(
        title="folio-api",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url=None,  # docs.install serves it, from vendored files and under a CSP
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.observability = observability
    app.state.reads = ProjectReads(session_factory, probe)
    app.state.drain = drain = Drain()
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    # Inside the metrics middleware, so a HEAD is counted as HEAD, not as the GET it runs.
    app.add_middleware(HttpMethodsMiddleware)
    # Installed after the body limit, so it sits outside it and counts its 413s too.
    observability.install_on(app)
    app.include_router(health.router)
    app.include_router(projects.router)
    docs.install(app)
    return ServedApp(app, observability.connections, drain)
