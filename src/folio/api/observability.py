"""folio-api's metrics: the folio_metrics pieces wired to this app, plus business metrics."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI
from folio_metrics import ServiceMetrics
from folio_metrics.db import DatabaseMetrics
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from folio import __version__
from folio.api import projects_db
from folio.api.settings import ApiSettings

METRICS_PATH = "/api/metrics"


class ApiObservability(ServiceMetrics):
    """Everything folio-api measures, built once per app by ``create_app``."""

    def __init__(self, settings: ApiSettings, engine: AsyncEngine) -> None:
        super().__init__(
            service="folio",
            version=__version__,
            commit=settings.build_commit,
            max_series=settings.metrics_max_series,
            workers_dir=settings.metrics_dir,
        )
        self.settings = settings
        self.database = DatabaseMetrics(self.registry)
        self.database.instrument(engine)
        self.projects_created = self.registry.counter(
            "folio_projects_created_total", "Projects created through the API."
        ).unlabelled()
        self.projects = self.registry.gauge(
            "folio_projects",
            "Projects stored now, by state; refreshed in the background, not at scrape time.",
            ("state",),
            aggregate="local",  # every worker counts the same rows
        )
        self._refresh_now = asyncio.Event()
        self._refresher: asyncio.Task[None] | None = None

    def install_on(self, app: FastAPI) -> None:
        token = self.settings.metrics_token
        self.install(
            app,
            path=METRICS_PATH,
            token=token.get_secret_value() if token else None,
            refusal_hint="FOLIO_METRICS_TOKEN",
            include_self=self.settings.metrics_include_self,
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
