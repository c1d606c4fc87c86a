"""Map a request to the route template it will match, never to its raw path.

The template is needed when the request starts (for the in-progress gauge), before the
router runs, so the resolver does the one lookup itself: it flattens the app's route tree
(mounts and prefixed routers included) into (regex, template) pairs once, and caches
recent answers in a bounded dict.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.routing import Mount, compile_path

UNMATCHED = "<unmatched>"
_CACHE_SIZE = 4096


class RouteResolver(Protocol):
    def __call__(self, app: Any, method: str, path: str) -> str:
        """The route template for ``method`` and ``path`` in ``app``, or UNMATCHED."""
        ...


@dataclass(frozen=True, slots=True)
class _Template:
    regex: re.Pattern[str]
    template: str
    methods: frozenset[str] | None


class StarletteRouteResolver:
    """Resolves templates for Starlette and FastAPI apps (``scope["app"].routes``)."""

    def __init__(self) -> None:
        self._tables: dict[int, tuple[int, list[_Template]]] = {}
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, app: Any, method: str, path: str) -> str:
        key = (method, path)
        template = self._cache.get(key)
        if template is None:
            template = self._lookup(app, method, path)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()  # cheap and bounded; hot paths refill at once
            self._cache[key] = template
        return template

    def _lookup(self, app: Any, method: str, path: str) -> str:
        partial = None
        for entry in self._table(app):
            if entry.regex.match(path):
                if entry.methods is None or method in entry.methods:
                    return entry.template
                partial = partial or entry.template
        return partial or UNMATCHED

    def _table(self, app: Any) -> list[_Template]:
        routes = getattr(app, "routes", None) or []
        cached = self._tables.get(id(app))
        if cached is None or cached[0] != len(routes):
            cached = (len(routes), list(_flatten(routes, "")))
            self._tables[id(app)] = cached
            self._cache.clear()
        return cached[1]


def _flatten(routes: Iterable[Any], prefix: str) -> Iterator[_Template]:
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            # FastAPI's included routers: each context knows its full, prefixed path.
            for context in contexts():
                yield _entry(prefix + context.path_format, getattr(context, "methods", None))
        elif isinstance(route, Mount):
            yield from _flatten(route.routes, prefix + route.path)
            yield _entry(prefix + route.path + "/{path:path}", None, display="/{path}")
        elif getattr(route, "path_format", None) is not None:
            yield _entry(prefix + route.path_format, getattr(route, "methods", None))


def _entry(template: str, methods: Iterable[str] | None, display: str = "") -> _Template:
    regex, path_format, _ = compile_path(template)
    if display:
        path_format = template.removesuffix("/{path:path}") + display
    return _Template(regex, path_format, frozenset(methods) if methods else None)
