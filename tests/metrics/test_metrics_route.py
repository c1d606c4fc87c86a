"""The metrics route answers exactly where Starlette's own route would, and only there."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from folio_metrics import ServiceMetrics
from folio_metrics.metrics_route import MetricsRoute
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Mount, Route


async def _endpoint(scope: Any, receive: Any, send: Any) -> None:
    await PlainTextResponse("metrics")(scope, receive, send)


PATHS = ["/metrics", "/metrics/", "/x/metrics", "/metricsx", "/api/metrics", "/", "/metric"]


@pytest.mark.parametrize("route_path", ["/metrics", "/api/metrics", "/m/{name}"])
@pytest.mark.parametrize("root_path", ["", "/x", "/api"])
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_it_matches_as_starlette_route_does(route_path: str, root_path: str, method: str) -> None:
    fast, plain = (
        MetricsRoute(route_path, _endpoint),
        Route(route_path, _endpoint, methods=["GET", "HEAD"]),
    )
    for path in [*PATHS, "/m/a", "/x/m/a"]:
        scope = {"type": "http", "path": path, "root_path": root_path, "method": method}
        assert fast.matches(scope) == plain.matches(scope), (path, root_path, method)


def test_other_paths_are_turned_away_before_starlette_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shortcut is taken: Starlette's own matching never runs for another path."""
    asked: list[str] = []
    original = Route.matches

    def counted(self: Route, scope: Any) -> tuple[Match, Any]:
        asked.append(scope["path"])
        return original(self, scope)

    monkeypatch.setattr(Route, "matches", counted)
    route = MetricsRoute("/metrics", _endpoint)
    for path in PATHS:
        route.matches({"type": "http", "path": path, "root_path": "", "method": "GET"})
    assert asked == ["/metrics", "/x/metrics", "/api/metrics"]


async def test_served_first_even_before_a_catch_all_mount() -> None:
    app = Starlette(routes=[Mount("/", app=PlainTextResponse("catch-all"))])
    ServiceMetrics(service="t", version="0", commit="c", max_series=10).install(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/metrics")).text.startswith("# HELP")
        assert (await client.get("/other")).text == "catch-all"
