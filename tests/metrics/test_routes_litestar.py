"""Litestar requests are named by the route Litestar's own router picks."""

from __future__ import annotations

import datetime
from typing import Any

import httpx
from folio_metrics import (
    UNMATCHED,
    HttpMetrics,
    MetricsMiddleware,
    MetricsRegistry,
    resolve_path,
    resolver_for,
)
from folio_metrics.litestar import LitestarRouteResolver
from litestar import Controller, Litestar, Router, asgi, get, post
from litestar.params import FromPath
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from tests.metrics.test_routes import Probe, counted


class Users(Controller):
    """A controller whose paths carry typed parameters."""

    path = "/users"

    @get("/{user_id:int}")
    async def one(self, user_id: FromPath[int]) -> dict[str, int]:
        return {"id": user_id}

    @get("/me")
    async def me(self) -> dict[str, str]:
        return {"id": "me"}

    @post("/")
    async def create(self) -> dict[str, str]:
        return {"id": "new"}

    @get("/{user_id:int}/events/{day:date}")
    async def events(self, user_id: FromPath[int], day: FromPath[datetime.date]) -> dict[str, str]:
        return {"day": day.isoformat()}


@asgi("/raw", is_mount=True, copy_scope=True)
async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 200, "headers": []}
    body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"raw", "more_body": False}
    await send(start)
    await send(body)


def litestar_app() -> Litestar:
    """The controller and a mounted ASGI app, under an /api router."""
    return Litestar(route_handlers=[Router(path="/api", route_handlers=[Users, raw])])


def probe(app: Litestar, root_path: str = "") -> Probe:
    return Probe(app, LitestarRouteResolver(app), root_path)


async def test_typed_parameters_name_the_template_without_their_types() -> None:
    """ "/users/{user_id:int}" is named "/users/{user_id}", as a Starlette app's would be."""
    send = probe(litestar_app())
    assert await send("GET", "/api/users/7") == (200, "/api/users/{user_id}")
    assert await send("GET", "/api/users/me") == (200, "/api/users/me")
    assert await send("GET", "/api/users/7/events/2024-05-01") == (
        200,
        "/api/users/{user_id}/events/{day}",
    )
    assert await send("POST", "/api/users") == (201, "/api/users")


async def test_a_path_litestar_refuses_is_unmatched() -> None:
    """A value its type refuses, or a path no route has, matches nothing."""
    send = probe(litestar_app())
    assert await send("GET", "/api/users/nope") == (404, UNMATCHED)
    assert await send("GET", "/api/users/7/events/someday") == (404, UNMATCHED)
    assert await send("GET", "/nowhere") == (404, UNMATCHED)


async def test_a_wrong_method_keeps_its_route() -> None:
    """A 405 is named by the route whose path matched."""
    send = probe(litestar_app())
    assert await send("DELETE", "/api/users/7") == (405, "/api/users/{user_id}")


async def test_a_mounted_app_is_named_by_its_mount() -> None:
    """Every path under a mounted ASGI app is the mount's path and {path}."""
    send = probe(litestar_app())
    assert await send("GET", "/api/raw/x/y.css") == (200, "/api/raw/{path}")
    assert await send("GET", "/api/raw") == (200, "/api/raw/{path}")


async def test_an_app_under_a_root_path_is_matched_without_it() -> None:
    """Served under a root_path, the path is matched with that prefix removed."""
    send = probe(litestar_app(), root_path="/prefix")
    assert await send("GET", "/prefix/api/users/7") == (200, "/api/users/{user_id}")


def test_a_bare_path_resolves_and_the_resolver_is_chosen_for_litestar() -> None:
    """resolver_for picks the Litestar resolver, and resolve_path works with it."""
    resolver = resolver_for(litestar_app())
    assert isinstance(resolver, LitestarRouteResolver)
    assert resolve_path(resolver, "GET", "/api/users/7") == "/api/users/{user_id}"
    assert resolve_path(resolver, "GET", "/api/users/x") == UNMATCHED


async def test_routes_registered_later_are_found() -> None:
    """An answer cached before a route was registered does not outlive the change."""
    app = litestar_app()
    send = probe(app)

    @get("/late")
    async def late() -> str:
        return "late"

    assert await send("GET", "/late") == (404, UNMATCHED)
    app.register(late)
    assert await send("GET", "/late") == (200, "/late")


async def test_the_middleware_counts_under_litestar_templates() -> None:
    """Through the middleware, Litestar requests count under their templates."""
    registry = MetricsRegistry()
    app = litestar_app()
    served: Any = app  # Litestar's own ASGI types are narrower than Starlette's
    wrapped = MetricsMiddleware(served, HttpMetrics(registry), resolver=LitestarRouteResolver(app))
    transport = httpx.ASGITransport(app=wrapped)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/api/users/7")
        await client.get("/api/users/nope")
        await client.delete("/api/users/7")
    assert counted(registry) == {
        ("GET", "/api/users/{user_id}", "200"): 1,
        ("GET", UNMATCHED, "404"): 1,
        ("DELETE", "/api/users/{user_id}", "405"): 1,
    }
