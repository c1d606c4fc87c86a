"""FastAPI dependencies: settings, DB sessions, the write token and JSON bodies.

Each is ``async def``, though none awaits: FastAPI runs a plain ``def`` dependency in a
worker thread, a hop that cost more than the rest of a cached read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, NamedTuple

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from folio_metrics import token_matches
from sqlalchemy.ext.asyncio import AsyncSession

from folio.api.errors import ApiError
from folio.api.observability import ApiObservability
from folio.api.project_reads import ProjectReads
from folio.api.settings import ApiSettings

_bearer = HTTPBearer(auto_error=False, description="The value of FOLIO_API_TOKEN")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


async def get_observability(request: Request) -> ApiObservability:
    observability: ApiObservability = request.app.state.observability
    return observability


ObservabilityDep = Annotated[ApiObservability, Depends(get_observability)]


class Reader(NamedTuple):
    """The project reads, and whether this caller may see drafts."""

    reads: ProjectReads
    include_drafts: bool


async def get_reader(request: Request, credentials: Credentials) -> Reader:
    """The reads with the caller's view; one dependency, as each costs a read's time."""
    settings: ApiSettings = request.app.state.settings
    return Reader(request.app.state.reads, _sees_drafts(settings, credentials))


ReaderDep = Annotated[Reader, Depends(get_reader)]
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description="An ETag from an earlier answer: 304 without a body if it is current",
    ),
]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.session_factory() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def require_writer(settings: SettingsDep, credentials: Credentials) -> None:
    """Allow the request only with the configured bearer token; there is no open default."""
    if settings.api_token is None:
        raise ApiError(
            403,
            "writes are disabled because no API token is configured: "
            "set FOLIO_API_TOKEN and send it as 'Authorization: Bearer <token>'",
        )
    _check_token(settings, credentials)


def _sees_drafts(settings: ApiSettings, credentials: HTTPAuthorizationCredentials | None) -> bool:
    # True for a caller with the token; a wrong token is refused rather than ignored.
    if settings.api_token is None or credentials is None:
        return False
    _check_token(settings, credentials)
    return True


async def require_json(request: Request) -> None:
    """Refuse a body that is not declared as JSON with 415."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ApiError(
            415,
            "the request body must be JSON: send 'Content-Type: application/json'",
            details={"content_type": content_type or None},
        )


def _check_token(settings: ApiSettings, credentials: HTTPAuthorizationCredentials | None) -> None:
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise ApiError(401, "missing 'Authorization: Bearer <token>' header", headers=challenge)
    assert settings.api_token is not None
    if not token_matches(credentials.credentials, settings.api_token.get_secret_value()):
        raise ApiError(401, "the bearer token is not valid", headers=challenge)
