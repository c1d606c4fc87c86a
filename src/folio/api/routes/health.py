"""Liveness and readiness checks."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from folio.api.deps import SettingsDep
from folio.api.errors import ApiError, ErrorResponse

router = APIRouter(prefix="/api/health", tags=["health"])


# One route per method: a route with methods=["GET", "HEAD"] gives both operations the same
# operationId in /api/openapi.json, which OpenAPI forbids (and FastAPI warns about).
@router.get("", operation_id="liveness")
@router.head("", operation_id="liveness_head")
async def liveness() -> dict[str, str]:
    """The process is up; never touches the database."""
    return {"status": "ok"}


_NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorResponse,
        "description": "Draining before a stop, or the database did not answer",
    }
}


@router.get("/ready", operation_id="readiness", responses=_NOT_READY)
@router.head("/ready", operation_id="readiness_head", responses=_NOT_READY)
async def readiness(request: Request, settings: SettingsDep) -> dict[str, str]:
    """Not stopping, and the database answers a trivial query within FOLIO_READY_TIMEOUT_SECONDS."""
    if request.app.state.drain.active:
        raise ApiError(503, "the server is stopping", details={"check": "drain"})
    engine: AsyncEngine = request.app.state.engine
    timeout = settings.ready_timeout_seconds
    try:
        await asyncio.wait_for(_ping(engine), timeout)
    except TimeoutError:
        reason = f"the database did not answer within {timeout:g} s"
        raise ApiError(503, reason, details={"check": "database"}) from None
    except Exception as error:
        reason = f"the database is unreachable: {type(error).__name__}"
        raise ApiError(503, reason, details={"check": "database"}) from None
    return {"status": "ready"}


async def _ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
