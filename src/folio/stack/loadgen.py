"""`folio loadgen`: realistic mixed traffic against a running stack, at a target rate.

It leaves the portfolio as it found it: the projects it creates are drafts, which the site
never shows, and it deletes them when it ends, on Ctrl-C too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from folio.stack.report import print_summary, progress_line

SLUGS = ["observability-stack", "portfolio-site", "event-pipeline", "cli-budget"]


@dataclass(frozen=True)
class Request:
    """One request: which service, and the route template it will be counted under."""

    kind: str
    service: str  # "web" or "api"
    method: str
    path: str
    template: str
    json: dict[str, object] | None = None
    authorized: bool = False
    beacon: bool = False


@dataclass
class Result:
    """What was sent and what came back, counted per (service, method, template, status)."""

    sent: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    failures: int = 0
    # Slugs of the projects that may exist because of this run: every create not refused.
    created: list[str] = field(default_factory=list)

    def record(self, request: Request, status: str, seconds: float) -> None:
        self.sent[(request.service, request.method, request.template, status)] += 1
        self.latencies.setdefault(request.kind, []).append(seconds)
        if request.kind == "create" and request.json and not status.startswith("4"):
            # "error" too: the request may have reached the server before the answer was lost.
            self.created.append(str(request.json["slug"]))


def _beacon(rng: random.Random, slug: str) -> dict[str, object]:
    """What a browser's rum.js would send after a visit: vitals, asset timings, rarely an error."""
    vitals = [
        {"name": "TTFB", "value": rng.lognormvariate(5.0, 0.6)},
        {"name": "FCP", "value": rng.lognormvariate(6.6, 0.5)},
        {"name": "LCP", "value": rng.lognormvariate(7.2, 0.5)},
        {"name": "INP", "value": rng.lognormvariate(4.5, 0.7)},
        {"name": "CLS", "value": round(rng.expovariate(20), 4)},
    ]
    resources = [
        {"type": kind, "duration": rng.lognormvariate(3.0, 0.8)}
        for kind in ("script", "stylesheet")
    ]
    errors = [{"type": "js_error"}] if rng.random() < 0.1 else []
    page = rng.choice(["/", "/projects", "/about", f"/projects/{slug}"])
    return {"page": page, "vitals": vitals, "resources": resources, "errors": errors}


def _pick(rng: random.Random, serial: int, can_write: bool) -> Request:
    slug = rng.choice(SLUGS)
    roll = rng.random()
    if roll < 0.45:
        path, template = rng.choice(
            [
                ("/", "/"),
                ("/projects", "/projects"),
                ("/about", "/about"),
                (f"/projects/{slug}", "/projects/{slug}"),
            ]
        )
        return Request("page view", "web", "GET", path, template)
    if roll < 0.80:
        if rng.random() < 0.5:
            return Request("api read", "api", "GET", "/api/projects", "/api/projects")
        return Request("api read", "api", "GET", f"/api/projects/{slug}", "/api/projects/{slug}")
    if roll < 0.88 and can_write:
        body = {
            "slug": f"loadgen-{serial}-{rng.randrange(10**9)}",
            "title": f"Load test {serial}",
            "summary": "Made by folio loadgen.",
            "tags": ["loadgen"],
            # A draft: the site's pages and the public API never list it meanwhile.
            "published": False,
        }
        return Request("create", "api", "POST", "/api/projects", "/api/projects", body, True)
    if roll < 0.90:
        return Request(
            "beacon", "web", "POST", "/api/rum", "/api/rum", _beacon(rng, slug), beacon=True
        )
    if roll < 0.96:
        missing = f"missing-{rng.randrange(10**6)}"
        if rng.random() < 0.5:
            return Request("404", "api", "GET", f"/api/projects/{missing}", "/api/projects/{slug}")
        return Request("404", "web", "GET", f"/projects/{missing}", "/projects/{slug}")
    return Request("422", "api", "GET", "/api/projects?limit=0", "/api/projects")


async def generate(
    web_url: str,
    api_url: str,
    *,
    token: str | None,
    rate: float,
    requests: int | None = None,
    duration: float | None = None,
    seed: int = 0,
    concurrency: int = 16,
    on_progress: Callable[[int, Result], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Result:
    """Send requests at ``rate`` per second until ``requests`` or ``duration`` is reached.

    Setting ``stop`` ends it early: no new request is sent, and those in flight finish.
    """
    total = planned(rate, requests, duration)
    rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not cryptography
    result = Result()
    limit = asyncio.Semaphore(concurrency)
    stop = stop or asyncio.Event()
    started = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(timeout=10) as client:
        serial = 0
        while serial < total:
            delay = started + serial / rate - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            # A server slower than the rate must not stretch --duration.
            if stop.is_set() or (duration is not None and time.monotonic() - started >= duration):
                break
            request = _pick(rng, serial, token is not None)
            base = web_url if request.service == "web" else api_url
            await limit.acquire()
            task = asyncio.create_task(_send(client, base, request, token, result, limit))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            serial += 1
            if on_progress is not None:
                on_progress(serial, result)
        await asyncio.gather(*tasks)
    return result


async def _send(
    client: httpx.AsyncClient,
    base: str,
    request: Request,
    token: str | None,
    result: Result,
    limit: asyncio.Semaphore,
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if request.authorized and token else {}
    if request.beacon:
        headers = {"Origin": base, "Content-Type": "text/plain"}
    began = time.perf_counter()
    try:
        if request.beacon:  # sent as sendBeacon does: text/plain JSON
            content = json.dumps(request.json).encode()
            response = await client.post(base + request.path, content=content, headers=headers)
        else:
            response = await client.request(
                request.method, base + request.path, json=request.json, headers=headers
            )
        status = str(response.status_code)
    except httpx.HTTPError:
        status = "error"
        result.failures += 1
    finally:
        limit.release()
    result.record(request, status, time.perf_counter() - began)


def planned(rate: float, requests: int | None, duration: float | None) -> int:
    """How many requests a run sends: ``requests``, or one every 1/``rate`` s for ``duration``."""
    if requests is None and duration is None:
        raise ValueError("give a request count or a duration")
    counts = [requests] if requests is not None else []
    if duration is not None:
        # Sent at 0, 1/rate, 2/rate … while before duration; the epsilon keeps 10 s at 20/s
        # at 200, where float error would make it 201.
        counts.append(math.ceil(duration * rate - 1e-9))
    return max(min(counts), 0)


async def delete_created(
    api_url: str, token: str | None, slugs: list[str]
) -> tuple[int, list[str]]:
    """Delete the projects a run created: how many were deleted, and the slugs that remain."""
    if token is None or not slugs:
        return 0, []
    headers = {"Authorization": f"Bearer {token}"}
    limit = asyncio.Semaphore(8)

    async def delete(client: httpx.AsyncClient, slug: str) -> int:
        async with limit:
            try:
                response = await client.delete(f"{api_url}/api/projects/{slug}", headers=headers)
            except httpx.HTTPError:
                return 0
            return response.status_code

    async with httpx.AsyncClient(timeout=10) as client:
        statuses = await asyncio.gather(*(delete(client, slug) for slug in slugs))
    # 404: a create whose answer was lost had not happened after all.
    remaining = [
        slug for slug, status in zip(slugs, statuses, strict=True) if status not in (204, 404)
    ]
    return statuses.count(204), remaining


def run_loadgen(
    web_url: str,
    api_url: str,
    token: str | None,
    rate: float,
    requests: int | None,
    duration: float | None,
    seed: int,
) -> int:
    """The CLI entry: progress on stderr, a summary table at the end; 130 when interrupted."""
    total = planned(rate, requests, duration)
    started = time.monotonic()

    def progress(done: int, result: Result) -> None:
        if done % max(int(rate // 4), 1) == 0 or done == total:
            sys.stderr.write(
                "\r" + progress_line(done, total, time.monotonic() - started, result.failures)
            )
            sys.stderr.flush()

    async def run() -> tuple[Result, bool]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        result = await generate(
            web_url,
            api_url,
            token=token,
            rate=rate,
            requests=requests,
            duration=duration,
            seed=seed,
            on_progress=progress,
            stop=stop,
        )
        elapsed = time.monotonic() - started
        if stop.is_set():
            sys.stderr.write("\nfolio loadgen: stopped; cleaning up")
        sys.stderr.write("\n")
        print_summary(result.sent, result.latencies, elapsed)
        await _clean_up(api_url, token, result.created)
        return result, stop.is_set()

    result, stopped = asyncio.run(run())
    if stopped:
        return 130  # as a shell reports a command ended by Ctrl-C
    return 1 if result.failures else 0


async def _clean_up(api_url: str, token: str | None, slugs: list[str]) -> None:
    deleted, remaining = await delete_created(api_url, token, slugs)
    if deleted:
        print(f"folio loadgen: deleted the {deleted} draft project(s) it created", file=sys.stderr)
    if remaining:
        print(
            f"folio loadgen: could not delete {len(remaining)} project(s) it created: "
            + ", ".join(remaining),
            file=sys.stderr,
        )
