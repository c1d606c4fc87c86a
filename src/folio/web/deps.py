"""FastAPI dependencies of folio-web: what its routes need, fetched from the request's app.

create_app builds each of these once and keeps it on ``app.state``; a route names the one
it needs by type, as folio-api's routes do.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from folio.web.api_client import ApiClient
from folio.web.pages import PageRenderer
from folio.web.prometheus import PrometheusClient
from folio.web.rum import BeaconIntake
from folio.web.settings import WebSettings
from folio.web.status_access import StatusAccess


def _from_state(name: str) -> Any:
    """A dependency on ``request.app.state.<name>``, which create_app set."""

    # async: FastAPI runs a plain def dependency in its thread pool, two hand-offs per call.
    async def get(request: Request) -> Any:
        return getattr(request.app.state, name)

    get.__name__ = f"get_{name}"
    return Depends(get)


SettingsDep = Annotated[WebSettings, _from_state("settings")]
# The client of folio-api that the pages read from.
ApiDep = Annotated[ApiClient, _from_state("api")]
RendererDep = Annotated[PageRenderer, _from_state("renderer")]
# The Jinja templates, for the operator pages, which are not page views.
TemplatesDep = Annotated[Jinja2Templates, _from_state("templates")]
# The metrics and rate limits of POST /api/rum.
BeaconIntakeDep = Annotated[BeaconIntake, _from_state("beacon_intake")]
# The FOLIO_STATUS_TOKEN gate of the operator pages.
StatusAccessDep = Annotated[StatusAccess, _from_state("status_access")]
# None when FOLIO_PROMETHEUS_URL is not set.
PrometheusDep = Annotated[PrometheusClient | None, _from_state("prometheus")]
# Rendered when the app was built; None when no runbook was found.
RunbookHtmlDep = Annotated[str | None, _from_state("runbook_html")]


# The public pages take these two straight from app.state: resolving them as FastAPI
# dependencies cost about a quarter of a page view's CPU once pages came from the cache.
def renderer_of(request: Request) -> PageRenderer:
    """The app's page renderer."""
    renderer: PageRenderer = request.app.state.renderer
    return renderer


def api_of(request: Request) -> ApiClient:
    """The app's client of folio-api."""
    api: ApiClient = request.app.state.api
    return api
