"""folio-api's metrics: the folio.metrics pieces wired to this app, plus business metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.routing import Route

from folio import __version__
from folio.api import projects_db
from folio.api.settings import ApiSettings
from folio.metrics import (
    ConnectionTracker,
    DatabaseMetrics,
    HttpMetrics,
    LoopLagSampler,
    MetricsEndpoint,
    MetricsMiddleware,
    MetricsRegistry,
    export_build_info,
    export_process_metrics,
)

METRICS_PATH = "/api/metrics"
logger = logging.getLogger("folio.api")


class ApiObservability:
    """Everything folio-api measures, built once per app by ``create_app``."""

    def __init__(self, settings: ApiSettings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.registry = MetricsRegistry(default_max_series=settings.metrics_max_series)
        self.http = HttpMetrics(self.registry, max_series=settings.metrics_max_series)
        self.connections = ConnectionTracker()
        self.connections.export(self.registry)
        self.database = DatabaseMetrics(self.registry)
        self.database.instrument(engine)
        export_process_metrics(self.registry)
        self.loop_lag = LoopLagSampler(self.registry)
        export_build_info(self.registry, "folio", __version__, settings.build_commit)
        self.projects_created = self.registry.counter(
            "folio_projects_created_total", "Projects created through the API."
        ).unlabelled()
        self.projects = self.registry.gauge(
            "folio_projects",
            "Projects stored now, by state; refreshed in the background, not at scrape time.",
            ("state",),
        )
        self._refresh_now = asyncio.Event()
        self._refresher: asyncio.Task[None] | None = None

    def install(self, app: FastAPI) -> None:
        token = self.settings.metrics_token
        endpoint = MetricsEndpoint(self.registry, token=token.get_secret_value() if token else None)
        # A plain Starlette route: the endpoint is an ASGI app, not a FastAPI handler.
        app.router.routes.append(
            Route(METRICS_PATH, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
        )
        app.add_middleware(
            MetricsMiddleware,
            metrics=self.http,
            exclude=() if self.settings.metrics_include_self else (METRICS_PATH,),
            peers=self.connections,
            queries=self.database,
        )

    async def start(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.loop_lag.start()
        self._refresher = asyncio.get_running_loop().create_task(
            self._refresh_project_counts(sessions), name="folio-projects-gauge"
        )

    async def stop(self) -> None:
        await self.loop_lag.stop()
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher

    def project_written(self) -> None:
        """Ask for a prompt recount after a write, instead of waiting for the next tick."""
        self._refresh_now.set()

    async def _refresh_project_counts(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        while True:
            try:
                async with sessions() as session:
                    counts = await projects_db.count_by_state(session)
                for state in ("published", "draft"):
                    self.projects.labels(state).set(counts.get(state, 0))
            except Exception:
                self.registry.record_hook_error("folio_projects")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._refresh_now.wait(), self.settings.metrics_refresh_seconds
                )
            self._refresh_now.clear()
