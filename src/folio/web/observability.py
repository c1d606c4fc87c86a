"""folio-web's metrics: http_*, page renders, browser reports and runtime."""

from __future__ import annotations

from fastapi import FastAPI
from folio_metrics import NativeBuckets, ServiceMetrics

from folio import __version__
from folio.web.settings import WebSettings

METRICS_PATH = "/api/metrics"
SSR_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CLIENT_ERROR_TYPES = ("js_error", "unhandled_rejection", "resource_error", "ssr_error")


class WebObservability(ServiceMetrics):
    """Everything folio-web measures, built once per app by ``create_app``."""

    def __init__(self, settings: WebSettings) -> None:
        super().__init__(
            service="folio_web",
            version=__version__,
            commit=settings.build_commit,
            max_series=settings.metrics_max_series,
            workers_dir=settings.metrics_dir,
        )
        self.settings = settings
        self.page_views = self.registry.counter(
            "page_views_total", "HTML pages rendered successfully, by route template.", ("route",)
        )
        self.ssr_duration = self.registry.histogram(
            "ssr_duration_seconds",
            "Time to render a page on the server, its folio-api calls included.",
            ("route",),
            buckets=SSR_BUCKETS,
            native=NativeBuckets(),
        )
        self.client_errors = self.registry.counter(
            "client_errors_total",
            "Errors reported by browsers, and server-side render failures (ssr_error).",
            ("type",),
            max_series=len(CLIENT_ERROR_TYPES),
        )
        for error_type in CLIENT_ERROR_TYPES:
            self.client_errors.labels(error_type)  # every type shows, at 0, from the start

    def install_on(self, app: FastAPI) -> None:
        token = self.settings.metrics_token
        self.install(
            app,
            path=METRICS_PATH,
            token=token.get_secret_value() if token else None,
            refusal_hint="FOLIO_METRICS_TOKEN",
            include_self=self.settings.metrics_include_self,
        )
