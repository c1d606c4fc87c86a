"""GET /runbook: docs/runbook.md as a page, behind the same switch and token as /status."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from folio.web.deps import RunbookHtmlDep, StatusAccessDep, TemplatesDep
from folio.web.runbook import NOT_FOUND
from folio.web.status_access import UNAUTHORIZED, operator_page

router = APIRouter(include_in_schema=False)


@router.get("/runbook", response_class=HTMLResponse)
async def runbook_page(
    request: Request, access: StatusAccessDep, templates: TemplatesDep, html: RunbookHtmlDep
) -> HTMLResponse:
    """The runbook rendered when the app was built; a 404 that says why when it is missing."""
    context = {"runbook": html, "missing": NOT_FOUND, "unauthorized": None}
    status = 200 if html is not None else 404
    if not access.allows(request, allow_query=True):
        context["unauthorized"] = UNAUTHORIZED
        status = 401
    return operator_page(templates, request, "runbook.html", context, status)
