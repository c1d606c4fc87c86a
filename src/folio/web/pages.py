"""What the HTML pages share: rendering with page views and SSR time counted, and limits."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from folio.web.observability import WebObservability

# folio-api's slugs (folio.api.schemas.SLUG_PATTERN): anything else cannot exist.
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

PAGE_SIZE = 9
FEATURED = 3
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9+#.-]{0,39}$")
DEGRADED = "Projects are unavailable right now: the API did not answer. Please try again soon."


class PageRenderer:
    """Renders templates, counting page views and SSR time per route template."""

    def __init__(self, templates: Jinja2Templates, observability: WebObservability) -> None:
        self.templates = templates
        self.observability = observability

    @asynccontextmanager
    async def timed(self, route: str) -> AsyncIterator[None]:
        """Observe how long the block takes as the SSR time of ``route``."""
        started = time.perf_counter()
        try:
            yield
        finally:  # a render that fails is timed too
            self.observability.ssr_duration.labels(route).observe(time.perf_counter() - started)

    def page(
        self,
        request: Request,
        template: str,
        route: str,
        context: dict[str, Any],
        status: int = 200,
    ) -> HTMLResponse:
        """``template`` with ``context``; a 200 counts as a view of ``route``."""
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        if status == 200:
            self.observability.page_views.labels(route).inc()
        return response

    def error(self, request: Request, status: int, title: str, message: str) -> HTMLResponse:
        """The error page, which is not a page view."""
        context = {"status": status, "title": title, "message": message}
        return self.templates.TemplateResponse(request, "error.html", context, status_code=status)


def page_number(raw: str | None) -> int | None:
    """The ?page= number, 1 when absent, or None when it is not a page that can exist."""
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        return None
    return int(raw)
