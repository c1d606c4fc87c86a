"""A plain Starlette app instrumented with folio_metrics, served by any ASGI server.

Run it from packages/folio-metrics, with as many workers as you like (each server's
directory option finds the module, so the commands work from anywhere with a full path)::

    export FOLIO_METRICS_DIR=$(mktemp -d)
    uvicorn --app-dir examples starlette_app:app --workers 3
    gunicorn --chdir examples -w 3 -k uvicorn_worker.UvicornWorker starlette_app:app
    granian --working-dir examples --interface asgi --workers 2 starlette_app:app

Every worker counts into FOLIO_METRICS_DIR, and /metrics, whichever worker answers, shows
all of them summed. See docs/servers.md.
"""

from __future__ import annotations

import os

import folio_metrics
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, Router


async def user(request: Request) -> JSONResponse:
    """One user, by numeric id; any other id does not match the route at all."""
    return JSONResponse({"id": request.path_params["user_id"], "pid": os.getpid()})


async def health(request: Request) -> PlainTextResponse:
    """Liveness: this worker answers."""
    return PlainTextResponse("ok")


async def stats(request: Request) -> JSONResponse:
    """Which worker answered: lets a client see requests spread across workers."""
    return JSONResponse({"pid": os.getpid()})


admin = Router(routes=[Route("/stats", stats)])

app = Starlette(
    routes=[
        Route("/users/{user_id:int}", user, methods=["GET"]),
        Route("/health", health),
        Mount("/admin", app=admin),
    ]
)

app = folio_metrics.instrument(app)
