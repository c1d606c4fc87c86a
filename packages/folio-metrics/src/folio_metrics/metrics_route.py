"""The route that serves a registry in a Starlette or FastAPI app; needs Starlette."""

from __future__ import annotations

from starlette.routing import Match, Route

from folio_metrics.asgi import ASGIApp, Scope

# Read once: an enum member looked up on its class costs more than the test it answers.
_NO_MATCH = Match.NONE


class MetricsRoute(Route):
    """GET and HEAD on ``path``, meant to go first, where no catch-all route or mount of the
    app's can hide it.

    Being first, it is asked about every request the app routes. Starlette's own matching
    (the root path taken off, then a regular expression) costs each of them about as much
    as the whole metrics middleware, so any path that does not end in ``path`` is turned
    away by one string test before it.
    """

    def __init__(self, path: str, endpoint: ASGIApp) -> None:
        super().__init__(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
        # A path with parameters can match paths that do not end in it: no shortcut then.
        self._suffix = "" if "{" in path else path

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if not scope.get("path", "").endswith(self._suffix):
            return _NO_MATCH, {}
        return super().matches(scope)
