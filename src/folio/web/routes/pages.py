"""The HTML pages: home, about, the project list and each project."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import Response

from folio.web.api_client import ApiNotFound, ApiUnavailable
from folio.web.deps import api_of, renderer_of
from folio.web.markdown import render_markdown
from folio.web.pages import DEGRADED, FEATURED, PAGE_SIZE, SLUG, TAG_PATTERN, page_number

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=Response)
async def home(request: Request) -> Response:
    """The newest published projects, or a 503 page that says the API is down."""
    renderer = renderer_of(request)
    async with renderer.timed("/"):
        try:
            page = await api_of(request).get("/api/projects", "/api/projects", {"limit": FEATURED})
        except ApiUnavailable:
            context = {"nav": "home", "featured": [], "degraded": DEGRADED}
            return renderer.page(request, "index.html", "/", context, status=503)
        return renderer.cached_page(
            request,
            "index.html",
            "/",
            ("/",),
            (page.etag,),
            lambda: {"nav": "home", "featured": page.data["items"], "degraded": None},
        )


@router.get("/about", response_class=Response)
async def about(request: Request) -> Response:
    """The about page, which needs nothing from folio-api."""
    renderer = renderer_of(request)
    async with renderer.timed("/about"):
        return renderer.cached_page(
            request, "about.html", "/about", ("/about",), (), lambda: {"nav": "about"}
        )


@router.get("/projects", response_class=Response)
async def projects(request: Request) -> Response:
    """A page of published projects, optionally with one tag."""
    renderer = renderer_of(request)
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
            listing = await api_of(request).get("/api/projects", "/api/projects", params)
        except ApiUnavailable:
            context.update(projects=[], total=0, pages=0, degraded=DEGRADED)
            return renderer.page(request, "projects.html", "/projects", context, status=503)

        def full_context() -> dict[str, Any]:
            total = listing.data["total"]
            pages = max(1, math.ceil(total / PAGE_SIZE))
            return {**context, "projects": listing.data["items"], "total": total, "pages": pages}

        key = ("/projects", tag, number)
        return renderer.cached_page(
            request, "projects.html", "/projects", key, (listing.etag,), full_context
        )


@router.get("/projects/{slug}", response_class=Response)
async def project(request: Request, slug: str) -> Response:
    """One project, its body rendered from Markdown."""
    renderer = renderer_of(request)
    async with renderer.timed("/projects/{slug}"):
        # Not a slug (".", "..", "%2e"): the API path would resolve it as a dot segment and
        # ask folio-api for another resource altogether.
        if not SLUG.fullmatch(slug):
            return renderer.error(
                request, 404, "Project not found", f"No project is called “{slug}”."
            )
        try:
            path = f"/api/projects/{quote(slug, safe='')}"
            found = await api_of(request).get(path, "/api/projects/{slug}")
        except ApiNotFound:
            return renderer.error(
                request, 404, "Project not found", f"No project is called “{slug}”."
            )
        except ApiUnavailable:
            return renderer.error(request, 503, "Temporarily unavailable", DEGRADED)
        return renderer.cached_page(
            request,
            "project.html",
            "/projects/{slug}",
            ("/projects/{slug}", slug),
            (found.etag,),
            lambda: {
                "nav": "projects",
                "project": found.data,
                "body_html": render_markdown(found.data["body"]),
            },
        )
