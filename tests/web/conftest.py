"""folio-web in-process, backed by a real folio-api app (in-process too) or by nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from folio.web.app import create_app
from folio.web.settings import WebSettings

SITE = "http://folio.test"
Site = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
async def web_app(app: FastAPI) -> AsyncIterator[FastAPI]:
    """folio-web whose folio-api calls go to the in-process folio-api ``app``."""
    web = create_app(WebSettings(), api_transport=httpx.ASGITransport(app=app))
    yield web
    await web.state.api.aclose()


@pytest.fixture
async def site(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
        yield client


@pytest.fixture
async def api_down_site() -> AsyncIterator[httpx.AsyncClient]:
    """folio-web pointed at a port where nothing listens."""
    settings = WebSettings(api_url="http://127.0.0.1:1", api_timeout_seconds=0.5, api_retries=1)
    web = create_app(settings)
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url=SITE) as client:
        yield client
    await web.state.api.aclose()


@pytest.fixture
def make_site() -> Site:
    """Opens folio-web (lifespan included) with these settings and an optional transport."""

    @asynccontextmanager
    async def open_site(
        transport: httpx.AsyncBaseTransport | None = None, **settings: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        web = create_app(WebSettings(**settings), prometheus_transport=transport)
        async with (
            web.router.lifespan_context(web),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=web), base_url=SITE) as client,
        ):
            yield client

    return open_site
