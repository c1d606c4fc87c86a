"""One JSON shape for every error: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sqlalchemy_errors
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Match

from folio.json_errors import error_body, routing_message

# A stable, machine-readable code per status; clients branch on these, not on messages.
ERROR_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "service_unavailable",
}

_STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# SQLSTATEs that mean "the server is not there right now", not "the query is wrong":
# class 08 (connection exceptions), admin/crash shutdown, starting up, too many connections.
UNAVAILABLE_SQLSTATE_CLASSES = ("08",)
UNAVAILABLE_SQLSTATES = {"57P01", "57P02", "57P03", "53300"}
# SQLite's "database is locked" and "table is locked" (SQLITE_BUSY, SQLITE_LOCKED).
UNAVAILABLE_SQLITE_CODES = {5, 6}
RETRY_AFTER_SECONDS = "5"

logger = logging.getLogger("folio.api")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


class ApiError(HTTPException):
    """An HTTP error with an explicit message and optional structured details."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.details = details


def error_content(status_code: int, message: str, details: Any = None) -> dict[str, Any]:
    """The body of an error response."""
    code = ERROR_CODES.get(status_code) or HTTPStatus(status_code).phrase.lower().replace(" ", "_")
    return error_body(code, message, details)


def error_response(
    status_code: int,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    # An error is about this moment (a 404 may be a project about to be created): never stored.
    headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(error_content(status_code, message, details), status_code, headers)


def install_error_handlers(app: FastAPI) -> None:
    """Route every kind of failure through the one error shape."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for database_error in (sqlalchemy_errors.DBAPIError, sqlalchemy_errors.TimeoutError, OSError):
        app.add_exception_handler(database_error, _database_unavailable)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unhandled_error)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    message = exc.detail if isinstance(exc.detail, str) else phrase
    if message == phrase:
        # Starlette's own 404/405 from routing: say what was asked for.
        message = routing_message(phrase, request.method, request.url.path)
    details = getattr(exc, "details", None)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(exc.status_code, message, details, headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [_describe(error) for error in exc.errors()]
    if any(problem["type"] == "json_invalid" for problem in problems):
        return error_response(400, "the request body is not valid JSON", problems)
    return error_response(422, "the request did not validate", problems)


def database_unavailable(exc: BaseException) -> bool:
    """Whether a database error means the server cannot be reached, so a retry may succeed.

    A refused connection reaches us as a plain OSError (the driver's own), a dropped one
    as a DBAPIError that invalidated its connection; the rest carry an error code.
    """
    if isinstance(exc, OSError | sqlalchemy_errors.TimeoutError):
        return True
    if not isinstance(exc, sqlalchemy_errors.DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, sqlalchemy_errors.InterfaceError):
        return True
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    if sqlstate.startswith(UNAVAILABLE_SQLSTATE_CLASSES) or sqlstate in UNAVAILABLE_SQLSTATES:
        return True
    return getattr(exc.orig, "sqlite_errorcode", None) in UNAVAILABLE_SQLITE_CODES


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if not database_unavailable(exc):
        raise exc  # a bug, not an outage: the 500 handler logs its traceback
    # One line, no traceback: an outage would otherwise bury the log in identical traces.
    logger.warning("database unavailable for %s %s: %r", request.method, request.url.path, exc)
    return error_response(
        503,
        "the database is unavailable; try again shortly",
        {"check": "database"},
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _client_gone(_request: Request, _exc: Exception) -> Response:
    # The client left before its body was complete: no one reads this answer, it is not
    # the server's fault, and the metrics count it as a 499.
    return Response(status_code=400)


async def _unhandled_error(_request: Request, _exc: Exception) -> JSONResponse:
    # Starlette re-raises after this response, so the server logs the traceback;
    # the client only ever sees the generic message.
    return error_response(500, "internal server error")


def _allowed_methods(request: Request) -> list[str]:
    # Starlette's Allow names only the first route that matched the path, yet one path
    # has a route per method; ask the router which methods would fully match instead.
    routes = request.app.router.routes
    return [
        method
        for method in _STANDARD_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


def _describe(error: Any) -> dict[str, Any]:
    # Pydantic's raw errors carry the input and exception objects; keep only what is JSON-safe.
    return {
        "loc": [str(part) for part in error.get("loc", ())],
        "message": str(error.get("msg", "")),
        "type": str(error.get("type", "")),
    }
