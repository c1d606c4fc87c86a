"""Route templates for Litestar 2 apps, from Litestar's own router.

Import this module explicitly (or let ``resolver_for`` pick it): it imports Litestar.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.utils import normalize_path

from folio_metrics.routes import CACHE_SIZE, OPAQUE_TAIL, UNMATCHED

__all__ = ["LitestarRouteResolver"]


class LitestarRouteResolver:
    """Names a request's route as Litestar's router does, e.g. ``/users/{user_id}``.

    Path parameter types are not part of the name (``{user_id:int}`` is ``{user_id}``),
    so the names are the same as a Starlette app's for the same routes.
    """

    def __init__(self, app: Litestar) -> None:
        self.app = app
        self._routes = app.routes
        self._cache: dict[tuple[int, str, str, str], str] = {}

    def __call__(self, scope: Any) -> str:
        # The route count is in the key, so that routes registered later are never missed.
        key = (len(self._routes), scope["method"], scope["path"], scope.get("root_path", ""))
        found = self._cache.get(key)
        return found if found is not None else self._resolve(key)

    def _resolve(self, key: tuple[int, str, str, str]) -> str:
        if self._cache and next(iter(self._cache))[0] != key[0]:
            self._cache.clear()
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()  # cheap and bounded; hot paths come back at once
        template = self._cache[key] = self.template(*key[1:])
        return template

    def template(self, method: str, path: str, root_path: str = "") -> str:
        """The template for ``path`` (which includes ``root_path``), uncached."""
        if root_path:  # as Litestar's router strips it
            path = path.split(root_path, maxsplit=1)[-1]
        path = normalize_path(path)
        route = self.app.asgi_router.handle_routing
        try:
            _, handler, rest, _, template = route(path=path, method=method)
        except MethodNotAllowedException as refusal:
            # A 405 is still this route's: ask again with a method it allows.
            allowed = str((refusal.headers or {}).get("allow", "")).split(",")[0].strip()
            if not allowed:
                return UNMATCHED
            try:
                _, handler, rest, _, template = route(path=path, method=allowed)
            except (MethodNotAllowedException, NotFoundException):
                return UNMATCHED
        except NotFoundException:
            return UNMATCHED
        if getattr(handler, "is_mount", False):
            # A mounted app gets the rest of the path; what it matched is the mount's.
            mount = path[: len(path) - len(str(rest).rstrip("/"))]
            return mount.rstrip("/") + OPAQUE_TAIL
        return str(template)
