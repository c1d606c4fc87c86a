"""The HTML pages: home, about, the project list and each project."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from folio.web.api_client import ApiNotFound, ApiUnavailable
from folio.web.deps import ApiDep, RendererDep
from folio.web.markdown import render_markdown
from folio.web.pages import DEGRADED, FEATURED, PAGE_SIZE, SLUG, TAG_PATTERN, page_number

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, renderer: RendererDep, api: ApiDep) -> HTMLResponse:
    """The newest published projects, or a 503 page that says the API is down."""
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
async def about(request: Request, renderer: RendererDep) -> HTMLResponse:
    """The about page, which needs nothing from folio-api."""
    async with renderer.timed("/about"):
        return renderer.page(request, "about.html", "/about", {"nav": "about"})


@router.get("/projects", response_class=HTMLResponse)
async def projects(request: Request, renderer: RendererDep, api: ApiDep) -> HTMLResponse:
    """A page of published projects, optionally with one tag."""
    async with renderer.timed("/projects"):
        tag = request.query_params.get("tag") or None
        number = page_number(request.query_params.get("page"))
        if (tag is not None and not TAG_PATTERN.match(tag)) or number is None:
            return renderer.error(request, 404, "Not found", "There is no such page of projects.")
        params: dict[str, Any] = {"limit": PAGE_SIZE, "offset": (number - 1) * PAGE_SIZE}
        if tag:
            params["tag"] = tag
        context: dict[str, Any] = {"nav": "projects", "tag": tag, "page": number}
        try:
            listing = await api.get_json("/api/projects", "/api/projects", params)
        except ApiUnavailable:
            context.update(projects=[], total=0, pages=0, degraded=DEGRADED)
            return renderer.page(request, "projects.html", "/projects", context, status=503)
        pages = max(1, math.ceil(listing["total"] / PAGE_SIZE))
        context.update(projects=listing["items"], total=listing["total"], pages=pages)
        return renderer.page(request, "projects.html", "/projects", context)


@router.get("/projects/{slug}", response_class=HTMLResponse)
async def project(request: Request, slug: str, renderer: RendererDep, api: ApiDep) -> HTMLResponse:
    """One project, its body rendered from Markdown."""
    async with renderer.timed("/projects/{slug}"):
        # Not a slug (".", "..", "%2e"): httpx would resolve it as a dot segment and ask
        # folio-api for another resource altogether.
        if not SLUG.fullmatch(slug):
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
