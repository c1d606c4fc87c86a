"""The HTML pages: home, about, the project list and each project."""

from __future__ import annotations

import math
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from folio.web.api_client import ApiClient, ApiNotFound, ApiUnavailable
from folio.web.markdown import render_markdown
from folio.web.observability import WebObservability

# folio-api's slugs (folio.api.schemas.SLUG_PATTERN): anything else cannot exist.
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")

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
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        if status == 200:
            self.observability.page_views.labels(route).inc()
        return response

    def error(self, request: Request, status: int, title: str, message: str) -> HTMLResponse:
        context = {"status": status, "title": title, "message": message}
        return self.templates.TemplateResponse(request, "error.html", context, status_code=status)


def build_router(renderer: PageRenderer, api: ApiClient) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        async with renderer.timed("/"):
            context: dict[str, Any] = {"nav": "home", "featured": [], "degraded": None}
            try:
                page = await api.get_json("/api/projects", "/api/projects", {"limit": FEATURED})
                context["featured"] = page["items"]
            except ApiUnavailable:
                context["degraded"] = DEGRADED
                return renderer.page(request, "index.html", "/", context, status=503)
            return renderer.page(request, "index.html", "/", context)

    @router.get("/about", response_class=HTMLResponse)
    async def about(request: Request) -> HTMLResponse:
        async with renderer.timed("/about"):
            return renderer.page(request, "about.html", "/about", {"nav": "about"})

    @router.get("/projects", response_class=HTMLResponse)
    async def projects(request: Request) -> HTMLResponse:
        async with renderer.timed("/projects"):
            tag = request.query_params.get("tag") or None
            page_number = _page_number(request.query_params.get("page"))
            if (tag is not None and not TAG_PATTERN.match(tag)) or page_number is None:
                return renderer.error(
                    request, 404, "Not found", "There is no such page of projects."
                )
            params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": (page_number - 1) * PAGE_SIZE}
            if tag:
                params["tag"] = tag
            context: dict[str, Any] = {"nav": "projects", "tag": tag, "page": page_number}
            try:
                listing = await api.get_json("/api/projects", "/api/projects", params)
            except ApiUnavailable:
                context.update(projects=[], total=0, pages=0, degraded=DEGRADED)
                return renderer.page(request, "projects.html", "/projects", context, status=503)
            pages = max(1, math.ceil(listing["total"] / PAGE_SIZE))
            context.update(projects=listing["items"], total=listing["total"], pages=pages)
            return renderer.page(request, "projects.html", "/projects", context)

    @router.get("/projects/{slug}", response_class=HTMLResponse)
    async def project(request: Request, slug: str) -> HTMLResponse:
        async with renderer.timed("/projects/{slug}"):
            # Not a slug (".", "..", "%2e"): httpx would resolve it as a dot segment and ask
            # folio-api for another resource altogether.
            if not _SLUG.fullmatch(slug):
                return renderer.error(
                    request, 404, "Project not found", f"No project is called “{slug}”."
                )
            try:
                path = f"/api/projects/{quote(slug, safe='')}"
                found = await api.get_json(path, "/api/projects/{slug}")
            except ApiNotFound:
                return renderer.error(
                    request, 404, "Project not found", f"No project is called “{slug}”."
                )
            except ApiUnavailable:
                return renderer.error(request, 503, "Temporarily unavailable", DEGRADED)
            context = {
                "nav": "projects",
                "project": found,
                "body_html": render_markdown(found["body"]),
            }
            return renderer.page(request, "project.html", "/projects/{slug}", context)

    return router


def _page_number(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        return None
    return int(raw)
