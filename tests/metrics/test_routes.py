"""Starlette and FastAPI requests are named by the route the framework itself would pick."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from folio_metrics import HttpMetrics, MetricsMiddleware, MetricsRegistry
from folio_metrics.children import CounterChild
from folio_metrics.frameworks import resolver_for
from folio_metrics.routes import (
    UNMATCHED,
    RouteResolver,
    StarletteRouteResolver,
    resolve_path,
)
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Mount, Route, Router
from starlette.types import Receive, Scope, Send

LIBRARY = Path(__file__).parents[2] / "packages" / "folio-metrics" / "src" / "folio_metrics"
FRAMEWORKS = ("starlette", "fastapi", "litestar")


class Probe:
    """Sends real requests to an app, naming each from its real scope before the app runs."""

    def __init__(
        self, app: Any, resolver: RouteResolver | None = None, root_path: str = ""
    ) -> None:
        self.app = app
        self.resolver = resolver or StarletteRouteResolver(app)
        self.names: list[str] = []
        self.transport = httpx.ASGITransport(app=self.recorder, root_path=root_path)

    async def recorder(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app as served: the resolver sees the scope the server made."""
        if scope["type"] == "http":
            self.names.append(self.resolver(scope))
        await self.app(scope, receive, send)

    async def __call__(
        self, method: str, path: str, *, host: str = "test", headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        async with httpx.AsyncClient(transport=self.transport, base_url=f"http://{host}") as client:
            response = await client.request(method, path, headers=headers)
        return response.status_code, self.names[-1]


async def text(request: Any) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def plain_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    await PlainTextResponse("asset")(scope, receive, send)


def starlette_app() -> Starlette:
    """Convertors, a mounted router, a mounted plain app, and a route after a typed one."""
    return Starlette(
        routes=[
            Route("/users/{user_id:int}", text),
            Route("/users/me", text),
            Mount("/admin/{org:int}", routes=[Route("/reports/{year:int}", text)]),
            Mount("/static", app=plain_asgi),
        ]
    )


async def test_convertors_decide_which_route_matches() -> None:
    """A path a convertor refuses matches no route; one it accepts gets the template."""
    send = Probe(starlette_app())
    assert await send("GET", "/users/7") == (200, "/users/{user_id}")
    assert await send("GET", "/users/nope") == (404, UNMATCHED)
    assert await send("GET", "/users/me") == (200, "/users/me")
    assert await send("GET", "/nowhere") == (404, UNMATCHED)


async def test_a_wrong_method_keeps_its_route() -> None:
    """A 405 (the path matched, the method did not) is named by that route."""
    send = Probe(starlette_app())
    assert await send("POST", "/users/7") == (405, "/users/{user_id}")
    assert await send("POST", "/users/nope") == (404, UNMATCHED)


async def test_a_mount_joins_both_templates() -> None:
    """A mount's template prefixes its app's; a path nothing inside matches is the mount's."""
    send = Probe(starlette_app())
    assert await send("GET", "/admin/3/reports/2024") == (200, "/admin/{org}/reports/{year}")
    assert await send("GET", "/admin/3/reports/soon") == (404, "/admin/{org}/{path}")
    assert await send("GET", "/admin/x/reports/2024") == (404, UNMATCHED)
    # Every path of a mounted app without routes of its own is the mount's.
    assert await send("GET", "/static/css/site.css") == (200, "/static/{path}")


async def test_host_routes_are_told_apart_by_host() -> None:
    """One path is two routes on two hosts, and the cache keeps them apart."""
    app = Starlette(
        routes=[
            Host("api.example.com", app=Router([Route("/ping/{n:int}", text)])),
            Route("/ping/{name}", text),
        ]
    )
    send = Probe(app)
    for _ in range(2):
        assert await send("GET", "/ping/3", host="api.example.com") == (200, "/ping/{n}")
        assert await send("GET", "/ping/3", host="www.example.com") == (200, "/ping/{name}")
    assert await send("GET", "/ping/x", host="api.example.com") == (404, "/{path}")


async def test_an_app_under_a_root_path_is_matched_without_it() -> None:
    """Served under a root_path, the path is matched with that prefix removed."""
    send = Probe(starlette_app(), root_path="/prefix")
    assert await send("GET", "/prefix/users/7") == (200, "/users/{user_id}")
    assert await send("GET", "/prefix/admin/3/reports/1") == (200, "/admin/{org}/reports/{year}")
    assert await send("GET", "/prefix/users/nope") == (404, UNMATCHED)


async def test_routes_added_later_are_found() -> None:
    """An answer cached before a route was added does not outlive the change."""
    app = starlette_app()
    send = Probe(app)
    assert await send("GET", "/late") == (404, UNMATCHED)
    app.add_route("/late", text)
    assert await send("GET", "/late") == (200, "/late")


def test_a_bare_path_resolves_like_a_request() -> None:
    """resolve_path names a (method, path) the way a request for it would be named."""
    app = starlette_app()
    resolver = StarletteRouteResolver(app)
    assert resolve_path(resolver, "GET", "/users/7") == "/users/{user_id}"
    assert resolve_path(resolver, "GET", "/users/nope") == UNMATCHED
    assert resolve_path(resolver, "GET", "/p/users/7", root_path="/p") == "/users/{user_id}"
    unbound = StarletteRouteResolver()
    assert resolve_path(unbound, "GET", "/users/7", app=app) == "/users/{user_id}"
    assert resolve_path(unbound, "GET", "/users/7") == UNMATCHED


def test_the_resolver_is_chosen_by_the_kind_of_app() -> None:
    """Starlette apps, FastAPI apps and bare routers get one; other ASGI apps get none."""
    for app in (starlette_app(), FastAPI(), Router([Route("/x", text)])):
        assert isinstance(resolver_for(app), StarletteRouteResolver)
    assert resolver_for(plain_asgi) is None


def require_key(request: Request) -> None:
    if request.headers.get("x-key") != "secret":
        raise HTTPException(403, "no key")


def fastapi_app() -> FastAPI:
    """Routers included twice with prefixes, a guarded router, a convertor, a mount."""
    items = APIRouter(prefix="/items")

    @items.get("/{item_id:int}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @items.get("/latest")
    async def latest() -> dict[str, str]:
        return {"id": "latest"}

    shop = APIRouter(prefix="/shop", dependencies=[Depends(require_key)])
    shop.include_router(items)
    app = FastAPI()

    @app.get("/orders/{order_id:int}")
    async def order(order_id: int) -> dict[str, int]:
        return {"id": order_id}

    app.include_router(shop, prefix="/v1")
    app.mount("/legacy", Starlette(routes=[Route("/page/{slug}", text)]))
    return app


async def test_fastapi_included_routers_are_matched_as_fastapi_does() -> None:
    """Twice-included, guarded routers name the full prefixed template, convertors included."""
    send = Probe(fastapi_app())
    key, items = {"x-key": "secret"}, "/v1/shop/items/{item_id}"
    assert await send("GET", "/v1/shop/items/3", headers=key) == (200, items)
    assert await send("GET", "/v1/shop/items/latest", headers=key) == (200, "/v1/shop/items/latest")
    assert await send("GET", "/v1/shop/items/soon", headers=key) == (404, UNMATCHED)
    assert await send("DELETE", "/v1/shop/items/3", headers=key) == (405, items)
    assert await send("GET", "/orders/5") == (200, "/orders/{order_id}")
    assert await send("GET", "/orders/five") == (404, UNMATCHED)
    assert await send("GET", "/legacy/page/intro") == (200, "/legacy/page/{slug}")
    # A request the router's dependency refuses is still named by its route.
    assert await send("GET", "/v1/shop/items/3") == (403, items)


async def test_the_middleware_counts_under_the_framework_match() -> None:
    """Through the middleware (its default resolver), refused paths count as unmatched."""
    registry = MetricsRegistry()
    app = fastapi_app()
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(registry))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await client.get("/orders/5")
        await client.get("/orders/five")
        await client.get("/v1/shop/items/3", headers={"x-key": "secret"})
    assert counted(registry) == {
        ("GET", "/orders/{order_id}", "200"): 1,
        ("GET", UNMATCHED, "404"): 1,
        ("GET", "/v1/shop/items/{item_id}", "200"): 1,
    }


def counted(registry: MetricsRegistry) -> dict[tuple[str, ...], float]:
    """Every request count above zero, by its (method, endpoint, status) labels."""
    children = registry.families["http_requests"].children.items()
    return {key: child.value for key, child in children if isinstance(child, CounterChild)}


def private_framework_names(source: str) -> list[str]:
    """Each private framework name a module's source uses, as written there."""
    found = ["effective_route_contexts"] if "effective_route_contexts" in source else []
    if not any(framework in source for framework in FRAMEWORKS):
        return found  # only a module that names a framework can reach into one
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [getattr(node, "module", None) or "", *(alias.name for alias in node.names)]
            found += [part for name in names for part in name.split(".") if is_private(part)]
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            if getattr(node.value, "id", "") not in ("self", "cls"):
                found.append(ast.unparse(node))
        elif isinstance(node, ast.Constant) and is_private(str(node.value)):
            found.append(str(node.value))  # getattr(route, "_name")
    return found


def is_private(name: str) -> bool:
    """Whether a name is private by convention (one leading underscore, not a dunder)."""
    return name.startswith("_") and not name.startswith("__") and name.isidentifier()


@pytest.mark.parametrize(
    "source",
    [
        "from fastapi.routing import _IncludedRouter",
        "from starlette._utils import get_route_path",
        "import starlette._utils",
        "import starlette\nx = route._base_app",
        "import fastapi\ny = getattr(route, '_effective_candidates', None)",
        "routes = included.effective_route_contexts()",
    ],
)
def test_the_private_name_check_sees_each_kind_of_use(source: str) -> None:
    """The check below finds a private import, attribute, getattr and the old helper."""
    assert private_framework_names(source)


def test_the_library_uses_no_private_framework_names() -> None:
    """No module of the library leans on a private Starlette, FastAPI or Litestar name."""
    modules = sorted(LIBRARY.rglob("*.py"))
    assert {LIBRARY / "routes.py", LIBRARY / "litestar.py"} <= set(modules)
    used = {
        str(path.relative_to(LIBRARY)): names
        for path in modules
        if (names := private_framework_names(path.read_text()))
    }
    assert used == {}


def test_the_resolver_module_needs_no_framework_to_import() -> None:
    """UNMATCHED, the protocol and the helpers load with no installed package at all."""
    script = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("routes", {str(LIBRARY / "routes.py")!r})
routes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(routes)
assert routes.UNMATCHED == "<unmatched>" and routes.RouteResolver
print(routes.resolve_path(lambda scope: scope["path"], "GET", "/x"))
"""
    # -S leaves site-packages off the path: no Starlette, FastAPI or Litestar to import.
    command = [sys.executable, "-S", "-c", script]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "/x"), result.stderr


async def test_routes_are_read_at_the_first_request() -> None:
    """A resolver built before the routes (as instrumenting first does) still sees them."""
    app = FastAPI()
    sub = Starlette()
    app.mount("/sub", sub)
    send = Probe(app)
    sub.add_route("/page/{slug}", text)
    assert await send("GET", "/sub/page/intro") == (200, "/sub/page/{slug}")
