"""What folio's HTTP middleware costs alone, called ASGI-direct in this process.

folio-api's own MetricsMiddleware (taken from the app ``create_app`` builds, so it has the
resolver, exclusions, peer tracker and query counter folio-api installs) is re-pointed at a
trivial ASGI app that answers a small JSON body, and timed beside an empty pass-through
middleware around the same app and the app alone. No server, socket or event-loop wake-up
is measured, so the figures resolve a microsecond where a wrk run cannot.
"""

from __future__ import annotations

import asyncio
import cProfile
import pstats
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from folio_metrics import MetricsMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bench.intervals import median_interval, plus_minus
from bench.overhead_apps import PassThroughMiddleware

VARIANTS = ("none", "empty-middleware", "folio")
PATH = "/api/projects/observability-stack"
BODY = b'{"slug":"observability-stack","title":"Observability stack on ECS"}'
PROFILED_MODULES = ("folio_metrics",)
AIM_US = 5.0
PROFILE_ROWS = 12


@dataclass(frozen=True)
class Settings:
    rounds: int
    calls: int
    profiled_calls: int


FULL = Settings(rounds=60, calls=4000, profiled_calls=40000)
QUICK = Settings(rounds=8, calls=500, profiled_calls=3000)


async def trivial_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A handler with nothing to do: a 200 with a small JSON body, as one ASGI app sends it."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"68")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def folio_api_middleware(inner: ASGIApp) -> MetricsMiddleware:
    """folio-api's MetricsMiddleware exactly as its app installs it, around ``inner``."""
    from folio.api.app import create_app
    from folio.api.settings import ApiSettings

    # The engine is never connected: the middleware only needs it to exist.
    app = create_app(ApiSettings(database_url="sqlite+aiosqlite:///:memory:"))
    layer: Any = app.build_middleware_stack()
    while layer is not None and not isinstance(layer, MetricsMiddleware):
        layer = getattr(layer, "app", None)
    if layer is None:
        raise LookupError("folio-api's middleware stack holds no MetricsMiddleware")
    layer.app = inner
    return layer


def request_scope() -> dict[str, Any]:
    """A scope as uvicorn builds it for a keep-alive GET."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 3001),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:3001"), (b"accept", b"*/*")],
        "state": {},
    }


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(_: Message) -> None:
    return None


async def batch(app: ASGIApp, calls: int, scope: dict[str, Any]) -> float:
    """CPU µs per call over ``calls`` calls; each call gets its own scope, as a server's do."""
    started = time.process_time_ns()
    for _ in range(calls):
        await app(scope.copy(), _receive, _send)
    return (time.process_time_ns() - started) / calls / 1e3


def stacks() -> dict[str, ASGIApp]:
    """Each variant, around the same trivial app."""
    return {
        "none": trivial_app,
        "empty-middleware": PassThroughMiddleware(trivial_app),
        "folio": folio_api_middleware(trivial_app),
    }


async def _measure(apps: dict[str, ASGIApp], settings: Settings) -> dict[str, dict[int, float]]:
    scope = request_scope()
    for app in apps.values():  # warm up: caches, the resolver's answer, the label children
        await batch(app, settings.calls, scope)
    per_round: dict[str, dict[int, float]] = {variant: {} for variant in apps}
    names = list(apps)
    for round_ in range(settings.rounds):
        shift = round_ % len(names)
        for variant in names[shift:] + names[:shift]:
            per_round[variant][round_] = await batch(apps[variant], settings.calls, scope)
    return per_round


def profile(app: ASGIApp, calls: int) -> list[dict[str, Any]]:
    """The middleware's own functions by own time per request, under cProfile."""
    profiler = cProfile.Profile()
    scope = request_scope()

    async def run() -> None:
        await batch(app, 200, scope)
        profiler.enable()
        await batch(app, calls, scope)
        profiler.disable()

    asyncio.run(run())
    table: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows: list[dict[str, Any]] = [
        {
            "function": f"{_module(filename)}:{line} {name}",
            "calls_per_request": primitive / calls,
            "own_us_per_request": own * 1e6 / calls,
            "cumulative_us_per_request": cumulative * 1e6 / calls,
        }
        for (filename, line, name), (primitive, _, own, cumulative, *_) in table.items()
        if any(module in filename for module in PROFILED_MODULES)
    ]
    rows.sort(key=lambda row: -row["own_us_per_request"])
    return rows


def _module(filename: str) -> str:
    parts = filename.replace("\\", "/").split("/")
    if "folio_metrics" in parts:
        parts = parts[parts.index("folio_metrics") :]
    return ".".join(parts).removesuffix(".py")


def run(settings: Settings) -> dict[str, Any]:
    """Every variant's CPU µs per call, folio's difference to the empty middleware, a profile."""
    apps = stacks()
    per_round = asyncio.run(_measure(apps, settings))
    return {
        "settings": asdict(settings),
        "path": PATH,
        "variants": {
            variant: median_interval(list(values.values())) for variant, values in per_round.items()
        },
        "folio_minus_empty_us": median_interval(
            _paired_differences(per_round["empty-middleware"], per_round["folio"])
        ),
        "empty_minus_none_us": median_interval(
            _paired_differences(per_round["none"], per_round["empty-middleware"])
        ),
        "profile": profile(apps["folio"], settings.profiled_calls),
        "rounds": {variant: list(values.values()) for variant, values in per_round.items()},
    }


def _paired_differences(baseline: dict[int, float], variant: dict[int, float]) -> list[float]:
    return [variant[r] - baseline[r] for r in sorted(set(baseline) & set(variant))]


def method_text(settings: dict[str, Any]) -> str:
    return (
        f"In-process, ASGI-direct: {settings['rounds']} rounds, each calling every variant "
        f"{settings['calls']:,} times in a rotated order (GET {PATH}, a fresh copy of a "
        "uvicorn-like scope per call, a trivial app that sends a 68-byte JSON answer); "
        "time.process_time per batch over its calls. none: the trivial app alone; "
        "empty-middleware: a pass-through ASGI class around it; folio: the MetricsMiddleware "
        "that folio-api's create_app installs (its resolver over folio-api's routes, its "
        "exclusions, connection tracker and per-request query counter), re-pointed at the "
        "trivial app. Medians over rounds, in brackets the distribution-free 95% interval of "
        "the median; differences are paired round by round."
    )


def measure_or_skip(quick: bool, log: Callable[[str], None] = print) -> dict[str, Any]:
    """``run`` with the quick or full settings; a failure is reported, not raised."""
    try:
        result = run(QUICK if quick else FULL)
    except (LookupError, ImportError, OSError) as error:
        log(f"in-process middleware cost: skipped: {error}")
        return {"skipped": str(error) or type(error).__name__}
    folio = result["folio_minus_empty_us"]
    log(
        "in-process: "
        + ", ".join(f"{v} {plus_minus(i, 2)} µs" for v, i in result["variants"].items())
        + f"; folio minus empty {plus_minus(folio, 2)} µs"
    )
    return result


if __name__ == "__main__":
    measure_or_skip(quick=False)
