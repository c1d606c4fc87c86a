"""Map a request to the route template it will match, never to its raw path.

The template is needed when the request starts (for the in-progress gauge), before the
router runs, so the resolver asks the app's own routes, in the router's order, whether
they match (each route's public ``matches``), and caches recent answers in a bounded dict.
Nothing here imports a web framework until a resolver for that framework is built.

The route tree is read at the first request (and again whenever the app's own route
count changes): routes added later inside a mounted or included router are not seen.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

# The endpoint label of every request that matches no route: one series for all of them.
UNMATCHED = "<unmatched>"
CACHE_SIZE = 4096
# How a mount whose app has no routes of its own (static files, any ASGI app) is named.
OPAQUE_TAIL = "/{path}"

Key = tuple[int | str, ...]


class RouteResolver(Protocol):
    """Names the route template an HTTP request will match, before the app runs."""

    def __call__(self, scope: Any) -> str:
        """The route template for this request's scope, or UNMATCHED."""
        ...


def resolve_path(
    resolver: RouteResolver,
    method: str,
    path: str,
    *,
    root_path: str = "",
    host: str | None = None,
    app: Any = None,
) -> str:
    """The template ``resolver`` gives a request for ``path``, which includes ``root_path``.

    ``app`` is only needed by a resolver built without one (it then reads ``scope["app"]``).
    """
    headers = [(b"host", host.encode("latin-1"))] if host else []
    scope: dict[str, Any] = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "headers": headers,
        "path_params": {},
    }
    if app is not None:
        scope["app"] = app
    return resolver(scope)


def host_header(scope: Any) -> str:
    """The raw Host header of an ASGI scope, or an empty string."""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


class StarletteRouteResolver:
    """Resolves templates for Starlette and FastAPI apps by the routes' own ``matches``.

    Built without an app, it resolves against ``scope["app"]``, the app Starlette sets.
    """

    def __init__(self, app: Any = None) -> None:
        from starlette.routing import Host, Match

        self._full, self._partial, self._host_route = Match.FULL, Match.PARTIAL, Host
        self.app = app
        self._tree = _RouteTree(app, self) if app is not None else None
        self._trees: dict[int, _RouteTree] = {}

    def __call__(self, scope: Any) -> str:
        tree = self._tree or self._tree_for(scope.get("app"))
        if tree is None:
            return UNMATCHED
        # The route count is in the key, so that routes added later are never missed.
        if tree.by_host:
            key: Key = (len(tree.routes), scope["method"], scope["path"])
            key += (scope.get("root_path", ""), host_header(scope))
        else:
            key = (len(tree.routes), scope["method"], scope["path"], scope.get("root_path", ""))
        found = tree.cache.get(key)
        return found if found is not None else tree.resolve(scope)

    def _tree_for(self, app: Any) -> _RouteTree | None:
        tree = self._trees.get(id(app))
        if tree is None:
            if getattr(app, "routes", None) is None:
                return None
            # The tree holds the app, so its id cannot be reused while the entry lives.
            tree = self._trees[id(app)] = _RouteTree(app, self)
        return tree

    def read(self, routes: Sequence[Any], tree: _RouteTree) -> list[_Node]:
        """The routes as nodes to match, FastAPI's included routers opened up."""
        nodes = []
        for route in routes:
            tree.by_host = tree.by_host or self._is_host(route)
            path_format = getattr(route, "path_format", None)
            inner = getattr(route, "routes", None)
            if inner is not None:  # a mount, or a host (which adds nothing to the path)
                prefix = path_format.removesuffix(OPAQUE_TAIL) if path_format else ""
                nodes.append(_Node(route.matches, prefix, self.read(inner, tree)))
            elif isinstance(path_format, str):
                nodes.append(_Node(route.matches, path_format, None))
            elif included := included_routes(route):
                nodes += self.read(included, tree)
            else:  # a kind of route that names no path: where it matches, nothing is named
                nodes.append(_Node(route.matches, None, None))
        return nodes

    def _is_host(self, route: Any) -> bool:
        return isinstance(route, self._host_route) or isinstance(
            getattr(route, "route", None), self._host_route
        )

    def match(self, nodes: Sequence[_Node], scope: dict[str, Any], prefix: str) -> str:
        """The template of the route the router would pick among ``nodes``."""
        partial: tuple[_Node, Any] | None = None
        for node in nodes:
            found, child = node.matches(scope)
            if found is self._full:
                return self._descend(node, scope, child, prefix)
            if found is self._partial and partial is None:
                partial = node, child
        if partial is None:
            return UNMATCHED
        return self._descend(partial[0], scope, partial[1], prefix)

    def _descend(self, node: _Node, scope: dict[str, Any], child: Any, prefix: str) -> str:
        if node.inner is None:
            return UNMATCHED if node.template is None else prefix + node.template
        # Starlette picked the mount or host whatever lies behind it, so a path that
        # nothing inside matches is the mount's (as is every path of an app without routes).
        prefix += node.template or ""
        found = self.match(node.inner, {**scope, **child}, prefix)
        return found if found != UNMATCHED else prefix + OPAQUE_TAIL


def included_routes(route: Any) -> list[Any]:
    """The routes a FastAPI included router holds, as FastAPI's public route contexts."""
    if "fastapi" not in sys.modules:
        return []
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # a FastAPI that flattens included routers into plain routes
        return []

    # Each context carries its full, prefixed path and matches like the route it wraps.
    return [context for context in iter_route_contexts([route]) if context.route is not route]


class _Node:
    """One route to match: a template, or a prefix and the routes inside it."""

    __slots__ = ("inner", "matches", "template")

    def __init__(
        self, matches: Callable[[Any], Any], template: str | None, inner: list[_Node] | None
    ) -> None:
        self.matches = matches
        self.template = template
        self.inner = inner


class _RouteTree:
    """One app's routes, read once, and its cached answers."""

    __slots__ = ("app", "by_host", "cache", "count", "nodes", "resolver", "routes")

    def __init__(self, app: Any, resolver: StarletteRouteResolver) -> None:
        self.app = app
        self.resolver = resolver
        self.cache: dict[Key, str] = {}
        self.routes: list[Any] = []
        self.nodes: list[_Node] = []
        self.count = -1
        self.by_host = False
        # Read at the first request, when the app has its routes, not when it is built.

    def refresh(self) -> None:
        """Read the routes again when the app's routes were added, removed or replaced."""
        routes = self.app.routes
        if routes is not self.routes or len(routes) != self.count:
            self.routes, self.count = routes, len(routes)
            self.cache.clear()
            self.by_host = False
            self.nodes = self.resolver.read(routes, self)

    def resolve(self, request: Any) -> str:
        """Match a request the cache has not seen, and remember the answer."""
        self.refresh()
        method, path = request["method"], request["path"]
        root_path = request.get("root_path", "")
        key: Key = (self.count, method, path, root_path)
        host = ""
        if self.by_host:
            host = host_header(request)
            key += (host,)
        # A scope of only what the key holds, so that the cached answer is the true one.
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "root_path": root_path,
            "headers": [(b"host", host.encode("latin-1"))] if host else [],
            "path_params": {},
        }
        template = self.resolver.match(self.nodes, scope, "")
        if len(self.cache) >= CACHE_SIZE:
            self.cache.clear()  # cheap and bounded; hot paths come back at once
        self.cache[key] = template
        return template
