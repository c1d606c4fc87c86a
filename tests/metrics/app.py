"""A small FastAPI app that exercises every path the HTTP middleware must count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI, HTTPException
from folio_metrics import HttpMetrics, MetricsEndpoint, MetricsMiddleware, MetricsRegistry
from folio_metrics.middleware import PeerTracker
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

STREAM_PAUSE = 0.05
BACKGROUND_PAUSE = 0.3


class Item(BaseModel):
    name: str


async def _chunks() -> AsyncIterator[bytes]:
    for index in range(3):
        await asyncio.sleep(STREAM_PAUSE)
        yield f"chunk {index}\n".encode()


def build_app(
    registry: MetricsRegistry, *, peers: PeerTracker | None = None, **options: object
) -> FastAPI:
    """The test app, instrumented with a fresh HttpMetrics on ``registry``."""
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/items", status_code=201)
    async def create(item: Item) -> Item:
        return item

    @app.get("/items/{item_id}")
    async def read(item_id: int) -> dict[str, int]:
        if item_id != 1:
            raise HTTPException(404, "no such item")
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        return StreamingResponse(_chunks(), media_type="text/plain")

    @app.get("/background")
    async def background() -> JSONResponse:
        return JSONResponse(
            {"done": True}, background=BackgroundTask(asyncio.sleep, BACKGROUND_PAUSE)
        )

    @app.get("/wait-for-body")
    async def wait_for_body(request: Request) -> PlainTextResponse:
        await request.body()
        return PlainTextResponse("got it")

    @app.get("/slow")
    async def slow() -> PlainTextResponse:
        await asyncio.sleep(0.5)
        return PlainTextResponse("slow")

    versioned = APIRouter(prefix="/things")

    @versioned.get("/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app.include_router(versioned, prefix="/v1")

    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"hello {request.path_params['name']}")

    app.mount("/sub", Starlette(routes=[Route("/hello/{name}", hello)]))
    app.router.routes.append(Route("/metrics", MetricsEndpoint(registry), methods=["GET", "HEAD"]))
    app.add_middleware(
        MetricsMiddleware,
        metrics=HttpMetrics(registry),
        exclude=("/metrics",),
        peers=peers,
        **options,
    )
    return app
