"""What the HTML pages share: rendering with page views and SSR time counted, and limits.

A page is a pure function of the folio-api answers it shows, so each worker keeps the
HTML it rendered with the ETags of those answers, and renders again only when one of them
changed. A page made from an answer without an ETag is rendered every time.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from folio.web.http_cache import NO_STORE, etag_of, page_response
from folio.web.observability import WebObservability

# folio-api's slugs (folio.api.schemas.SLUG_PATTERN): anything else cannot exist.
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

PAGE_SIZE = 9
FEATURED = 3
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9+#.-]{0,39}$")
DEGRADED = "Projects are unavailable right now: the API did not answer. Please try again soon."
# Rendered pages kept per worker; a page of a project is 5 to 20 KB.
PAGE_CACHE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """A page's HTML, its ETag, and the ETags of the folio-api answers it was made from."""

    html: bytes
    etag: str
    sources: tuple[str, ...]


class PageRenderer:
    """Renders templates, counting page views and SSR time per route template."""

    def __init__(
        self,
        templates: Jinja2Templates,
        observability: WebObservability,
        cache_size: int = PAGE_CACHE_SIZE,
    ) -> None:
        self.templates = templates
        self.observability = observability
        self._rendered: OrderedDict[Hashable, RenderedPage] = OrderedDict()
        self._cache_size = cache_size

    @asynccontextmanager
    async def timed(self, route: str) -> AsyncIterator[None]:
        """Observe how long the block takes as the SSR time of ``route``."""
        started = time.perf_counter()
        try:
            yield
        finally:  # a render that fails is timed too
            self.observability.ssr_duration.labels(route).observe(time.perf_counter() - started)

    def cached_page(
        self,
        request: Request,
        template: str,
        route: str,
        key: Hashable,
        sources: tuple[str | None, ...],
        context: Callable[[], dict[str, Any]],
    ) -> Response:
        """A page view of ``route``: the HTML kept under ``key`` if ``sources`` still match.

        ``key`` names everything the page depends on besides the folio-api answers whose
        ETags are ``sources``; ``context`` builds the template's context when it must render.
        """
        known = tuple(source for source in sources if source is not None)
        page = self._rendered.get(key)
        if page is None or page.sources != known or len(known) != len(sources):
            # The page never depends on the request, so no request goes into its context.
            html = self.templates.get_template(template).render(context()).encode()
            page = RenderedPage(html, etag_of(html), known)
            if len(known) == len(sources):
                self._keep(key, page)
        else:
            self._rendered.move_to_end(key)
        # A 304 is a view too: the browser shows the page it holds (and rum.js reports it).
        self.observability.page_views.labels(route).inc()
        return page_response(request.headers.get("if-none-match"), page.html, page.etag)

    def _keep(self, key: Hashable, page: RenderedPage) -> None:
        self._rendered[key] = page
        self._rendered.move_to_end(key)
        while len(self._rendered) > self._cache_size:
            self._rendered.popitem(last=False)

    def page(
        self,
        request: Request,
        template: str,
        route: str,
        context: dict[str, Any],
        status: int = 200,
    ) -> HTMLResponse:
        """``template`` with ``context``, never cached; a 200 counts as a view of ``route``."""
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        if status == 200:
            self.observability.page_views.labels(route).inc()
        else:
            response.headers["Cache-Control"] = NO_STORE
        return response

    def error(self, request: Request, status: int, title: str, message: str) -> HTMLResponse:
        """The error page, which is not a page view and is kept by no cache."""
        context = {"status": status, "title": title, "message": message}
        response = self.templates.TemplateResponse(
            request, "error.html", context, status_code=status
        )
        response.headers["Cache-Control"] = NO_STORE
        return response


def page_number(raw: str | None) -> int | None:
    """The ?page= number, 1 when absent, or None when it is not a page that can exist."""
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        return None
    return int(raw)
