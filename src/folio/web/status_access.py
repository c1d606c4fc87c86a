"""Who may see the operator pages (/status, its data, /runbook): FOLIO_STATUS_TOKEN's gate."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from folio_metrics import bearer_matches, token_matches

from folio.web.settings import WebSettings

UNAUTHORIZED = (
    "The status page needs the token set in FOLIO_STATUS_TOKEN: open /status?token=<token>, "
    "or send the header 'Authorization: Bearer <token>'."
)
# The pages and data are live and may carry a token in the URL: never cache them, and
# never send that URL to another site as a Referer.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class StatusAccess:
    """Checks a request against FOLIO_STATUS_TOKEN (no token set: everyone may see)."""

    def __init__(self, settings: WebSettings) -> None:
        self._token = settings.status_token.get_secret_value() if settings.status_token else None

    def allows(self, request: Request, *, allow_query: bool) -> bool:
        """True without a token, or with it as a Bearer header (or ?token= if allowed)."""
        if self._token is None:
            return True
        if bearer_matches(request.headers.get("authorization", ""), self._token):
            return True
        # A person opening the page in a browser cannot set a header: ?token= on the page.
        return allow_query and self.query_token(request) is not None

    def query_token(self, request: Request) -> str | None:
        """The right token when this request gave it as ?token=, so links can pass it on."""
        given = request.query_params.get("token", "")
        return given if token_matches(given, self._token) else None


def operator_page(
    templates: Jinja2Templates,
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int,
) -> HTMLResponse:
    """An operator page, never cached; a 401 carries the Bearer challenge."""
    challenge = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return templates.TemplateResponse(
        request, template, context, status_code=status, headers={**NO_STORE, **challenge}
    )
