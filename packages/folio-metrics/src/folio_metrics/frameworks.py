"""Which resolver fits an app, chosen by the framework that built it."""

from __future__ import annotations

import sys
from typing import Any

from folio_metrics.routes import RouteResolver, StarletteRouteResolver


def resolver_for(app: Any) -> RouteResolver | None:
    """The resolver for a Starlette, FastAPI or Litestar app (or router), else None."""
    # A framework that is not imported yet cannot be what built ``app``.
    if "starlette" in sys.modules:
        from starlette.applications import Starlette
        from starlette.routing import Router

        if isinstance(app, Starlette | Router):
            return StarletteRouteResolver(app)
    if "litestar" in sys.modules:
        from litestar import Litestar

        if isinstance(app, Litestar):
            from folio_metrics.litestar import LitestarRouteResolver

            return LitestarRouteResolver(app)
    return None
