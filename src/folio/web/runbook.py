"""GET /runbook: docs/runbook.md as a page, so the /status alerts panel can link to sections.

The Markdown is found and rendered once, when the app is built. An installed wheel
carries it as folio/web/runbook.md (pyproject.toml force-includes docs/runbook.md); an
editable install of a checkout reads the checkout's docs/runbook.md. The page sits
behind the same switch and token as /status.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

import folio
from folio.web.markdown import render_document
from folio.web.status_access import NO_STORE, UNAUTHORIZED, StatusAccess

log = logging.getLogger(__name__)

NOT_FOUND = (
    "The runbook is not part of this installation: neither folio/web/runbook.md (in a "
    "wheel) nor docs/runbook.md (in a checkout) was found when folio-web started."
)


def runbook_sources() -> list[Traversable]:
    """Where the runbook may be, in order: inside the installed package, then the checkout."""
    checkout = Path(folio.__file__).resolve().parents[2] / "docs" / "runbook.md"
    return [resources.files("folio.web").joinpath("runbook.md"), checkout]


def read_runbook(sources: Iterable[Traversable] | None = None) -> str | None:
    """The runbook's Markdown from the first source that has it, or None."""
    for source in runbook_sources() if sources is None else sources:
        if source.is_file():
            return source.read_text(encoding="utf-8")
    log.warning("no folio/web/runbook.md or docs/runbook.md: /runbook will answer 404")
    return None


def build_router(
    access: StatusAccess, templates: Jinja2Templates, markdown: str | None
) -> APIRouter:
    """The /runbook route, serving ``markdown`` rendered here, once, behind ``access``."""
    router = APIRouter(include_in_schema=False)
    html = render_document(markdown) if markdown is not None else None

    @router.get("/runbook", response_class=HTMLResponse)
    async def runbook_page(request: Request) -> HTMLResponse:
        context = {"runbook": html, "missing": NOT_FOUND, "unauthorized": None}
        status = 200 if html is not None else 404
        if not access.allows(request, allow_query=True):
            context["unauthorized"] = UNAUTHORIZED
            status = 401
        response = templates.TemplateResponse(
            request, "runbook.html", context, status_code=status, headers=NO_STORE
        )
        if status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    return router
