"""HEAD on every GET route and an ``Allow`` header on every 405, as RFC 9110 asks."""

from __future__ import annotations

from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_READ_ONLY = frozenset({"GET", "HEAD"})


def accepts(routes: list[BaseRoute], scope: Scope, method: str) -> bool:
    """Whether some route serves ``method`` at the scope's path."""
    method_scope = {**scope, "method": method}
    for route in routes:
        if route.matches(method_scope)[0] is Match.FULL:
            # A static mount matches every method, yet StaticFiles only serves GET and HEAD.
            static = isinstance(route, Mount) and isinstance(route.app, StaticFiles)
            if not static or method in _READ_ONLY:
                return True
    return False


def allowed_methods(routes: list[BaseRoute], scope: Scope) -> list[str]:
    """The methods the scope's path accepts, HEAD included wherever GET is."""
    allowed = [method for method in METHODS if accepts(routes, scope, method)]
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(1, "HEAD")
    return allowed


class HttpMethodsMiddleware:
    """Answers HEAD on GET routes as GET without the body, and adds ``Allow`` to each 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        routes: list[BaseRoute] = getattr(scope.get("app"), "routes", None) or []
        # Routing into a Mount moves root_path in place; the Allow lookup needs the request's.
        root_path = scope.get("root_path", "")
        head_as_get = (
            scope["method"] == "HEAD"
            and not accepts(routes, scope, "HEAD")
            and accepts(routes, scope, "GET")
        )

        async def send_adjusted(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allowed = allowed_methods(routes, {**scope, "root_path": root_path})
                if allowed:
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if bytes(name).lower() != b"allow"
                    ]
                    headers.append((b"allow", ", ".join(allowed).encode()))
                    message = {**message, "headers": headers}
            elif head_as_get and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return  # GET's headers, Content-Length included, went out as they were
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        app_scope = {**scope, "method": "GET"} if head_as_get else scope
        await self.app(app_scope, receive, send_adjusted)
