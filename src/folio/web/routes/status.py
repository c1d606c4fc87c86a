"""GET /status, the built-in status page, and GET /status/data/{chart}, its charts' data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from folio.json_errors import error_body
from folio.web.deps import PrometheusDep, StatusAccessDep, TemplatesDep
from folio.web.prometheus import PrometheusError
from folio.web.status import NOT_CONFIGURED, alerts_context, chart_body, requested_range
from folio.web.status_access import NO_STORE, UNAUTHORIZED, operator_page
from folio.web.status_queries import CHARTS, DEFAULT_RANGE, RANGES

router = APIRouter(include_in_schema=False)


@router.get("/status", response_class=HTMLResponse)
async def status_page(
    request: Request, access: StatusAccessDep, templates: TemplatesDep, prometheus: PrometheusDep
) -> HTMLResponse:
    """The page: active alerts drawn here, charts that status.js fetches, or why not."""
    context: dict[str, Any] = {
        "charts": list(CHARTS.values()),
        "ranges": list(RANGES),
        "default_range": DEFAULT_RANGE,
        "configured": prometheus is not None,
        "not_configured": NOT_CONFIGURED,
        "unauthorized": None,
    }
    status = 200
    if not access.allows(request, allow_query=True):
        context["unauthorized"] = UNAUTHORIZED
        status = 401
    elif prometheus is not None:
        context.update(await alerts_context(prometheus))
        context["runbook_token"] = access.query_token(request)
    return operator_page(templates, request, "status.html", context, status)


@router.get("/status/data/{chart}")
async def chart_data(
    request: Request, chart: str, access: StatusAccessDep, prometheus: PrometheusDep
) -> Response:
    """One chart's series over ?range=, from Prometheus, or a JSON error."""
    if not access.allows(request, allow_query=False):
        return _error(401, "unauthorized", UNAUTHORIZED, {"WWW-Authenticate": "Bearer"})
    found = CHARTS.get(chart)
    if found is None:
        known = ", ".join(CHARTS)
        return _error(404, "not_found", f"no chart named {chart[:100]!r}; there are: {known}")
    range_name, problem = requested_range(request)
    if problem:
        return _error(400, "bad_request", problem)
    if prometheus is None:
        return _error(503, "prometheus_not_configured", NOT_CONFIGURED)
    try:
        body = await chart_body(prometheus, found, range_name, RANGES[range_name])
    except PrometheusError as error:
        return _error(error.status, "prometheus_unavailable", error.message)
    return JSONResponse(body, headers=NO_STORE)


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message), status_code=status, headers={**NO_STORE, **(headers or {})}
    )
