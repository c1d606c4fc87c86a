"""`python -m bench.accuracy [--quick]`: native and classic quantiles against the truth.

A uvicorn app, instrumented with folio_metrics' defaults, sleeps for each request as long
as a seeded lognormal draw says. Two Prometheus 2.42 processes scrape it every second: one
with native histograms on (protobuf, schema 3), one without (text, the default classic
buckets). Their p50, p90 and p99 are compared with the exact quantiles of the durations
the middleware itself handed to the histogram, which the app records beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import folio_metrics
import httpx
from folio_metrics.children import NativeHistogramChild
from folio_metrics.http import DURATION_BUCKETS
from folio_metrics.native import DEFAULT_NATIVE
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench import prometheus
from bench.common import RESULTS_DIR, ROOT, free_ports, stop, versions, write_results

SEED = 7
MEDIAN_MS = 30.0
SIGMA = 0.8
CLIP_MS = (5.0, 2000.0)
QUANTILES = (0.5, 0.9, 0.99)
CONCURRENCY = 100
QUICK_REQUESTS = 1_500
FULL_REQUESTS = 10_000
ENDPOINT = "/sleep"
HOST = "127.0.0.1"
SCHEMA = DEFAULT_NATIVE.schema
# A native bucket's upper edge over its lower one is 2**(2**-schema); the true quantile
# and Prometheus's estimate lie in the same bucket, so they differ by less than that.
BOUND = 2.0 ** (2.0**-SCHEMA) - 1
SERIES = f'http_request_duration_seconds{{endpoint="{ENDPOINT}"}}'
BUCKETS = SERIES.replace("{", "_bucket{")
NATIVE_QUANTILE = f"histogram_quantile(Q, sum({SERIES}))"  # Q: the quantile, such as 0.99
CLASSIC_QUANTILE = f"histogram_quantile(Q, sum by (le) ({BUCKETS}))"
NATIVE_COUNT = f"histogram_count(sum({SERIES}))"
CLASSIC_COUNT = f"sum({SERIES.replace('{', '_count{')})"


def create_app() -> Any:
    """``/sleep?ms=``, and ``/durations``: what the middleware observed for it, in seconds."""
    observed: list[float] = []
    observe = NativeHistogramChild.observe

    def recording(
        child: NativeHistogramChild, value: float, exemplar: Mapping[str, str] | None = None
    ) -> None:
        if child.label_values[:2] == ("GET", ENDPOINT):
            observed.append(value)
        observe(child, value, exemplar)

    # The very value the histogram counts, not a second clock around the middleware's.
    NativeHistogramChild.observe = recording  # type: ignore[method-assign, assignment]

    async def sleep(request: Request) -> Response:
        await asyncio.sleep(float(request.query_params["ms"]) / 1000)
        return PlainTextResponse("slept")

    async def durations(request: Request) -> Response:
        return JSONResponse(observed)

    app = Starlette(routes=[Route(ENDPOINT, sleep), Route("/durations", durations)])
    return folio_metrics.instrument(app, exclude=["/durations"], prometheus_client=False)


def sleeps_ms(count: int, seed: int = SEED) -> list[float]:
    """``count`` seeded lognormal sleeps in milliseconds, clipped to ``CLIP_MS``."""
    draw = random.Random(seed)
    low, high = CLIP_MS
    return [
        min(max(draw.lognormvariate(math.log(MEDIAN_MS), SIGMA), low), high) for _ in range(count)
    ]


def true_quantile(values: Sequence[float], q: float) -> float:
    """The observation of rank ceil(q * n): the one whose bucket Prometheus interpolates in."""
    return sorted(values)[max(math.ceil(q * len(values)), 1) - 1]


def measure(
    directory: Path, *, quick: bool, seed: int = SEED, concurrency: int = CONCURRENCY
) -> dict[str, Any]:
    """Serve, load and scrape as the module says; the quantiles and their errors."""
    requests = QUICK_REQUESTS if quick else FULL_REQUESTS
    with _running(directory) as (app, native, classic):
        sleeps = sleeps_ms(requests, seed)
        started = time.monotonic()
        asyncio.run(_load(app, sleeps, concurrency))
        load_seconds = time.monotonic() - started
        observed: list[float] = httpx.get(f"{app}/durations", timeout=10).json()
        if len(observed) != requests:
            raise RuntimeError(f"the app observed {len(observed)} of {requests} requests")
        # The series began empty with the app, so the latest cumulative sample is exactly
        # this run: no increase() over a window, which extrapolates at the series' start.
        for server, query in ((native, NATIVE_COUNT), (classic, CLASSIC_COUNT)):
            prometheus.wait_for(partial(_answers, server, query, requests), 30, query)
        rows = [_row(q, observed, sleeps, native, classic) for q in QUANTILES]
        schema, populated = _native_layout(native)
    return {
        "distribution": {
            "kind": "lognormal",
            "median_ms": MEDIAN_MS,
            "sigma": SIGMA,
            "clip_ms": list(CLIP_MS),
            "seed": seed,
        },
        "requests": requests,
        "concurrency": concurrency,
        "load_seconds": load_seconds,
        "bound": BOUND,
        "bound_schema": SCHEMA,
        "native_schema": schema,
        "native_populated_buckets": populated,
        "classic_buckets": len(DURATION_BUCKETS) + 1,
        "quantiles": rows,
        "queries": {
            "native": NATIVE_QUANTILE.replace("Q", "q"),
            "classic": CLASSIC_QUANTILE.replace("Q", "q"),
        },
        "versions": {"prometheus": prometheus.version(), **versions("uvicorn", "starlette")},
        "commands": [f"python -m bench.accuracy{' --quick' if quick else ''}"],
    }


@contextmanager
def _running(directory: Path) -> Iterator[tuple[str, str, str]]:
    """The app, then a native and a classic Prometheus scraping it, each up; their URLs."""
    app_port, native_port, classic_port = free_ports(3)
    app = f"http://{HOST}:{app_port}"
    native, classic = f"http://{HOST}:{native_port}", f"http://{HOST}:{classic_port}"
    environment = {k: v for k, v in os.environ.items() if k != "FOLIO_METRICS_DIR"}
    command = [sys.executable, "-m", "uvicorn", "bench.accuracy:create_app", "--factory"]
    command += ["--host", HOST, "--port", str(app_port), "--log-level", "warning"]
    command.append("--no-access-log")
    log_path = directory / "processes.log"
    processes: list[subprocess.Popen[bytes]] = []
    with log_path.open("wb") as log:
        try:
            served = subprocess.Popen(
                command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
            processes.append(served)
            for name, port, on in (("native", native_port, True), ("classic", classic_port, False)):
                target = f"{HOST}:{app_port}"
                processes.append(
                    prometheus.start(directory / name, target, port, native=on, log=log)
                )
            # Up once each has scraped the app: both and the app are then serving.
            for server in (native, classic):
                prometheus.wait_for(partial(prometheus.target_up, server), 30, f"{server} up")
            yield app, native, classic
        except (OSError, RuntimeError, httpx.HTTPError) as error:
            log.flush()
            raise RuntimeError(f"{error}\n{log_path.read_text()[-4000:]}") from error
        finally:
            for process in reversed(processes):
                stop(process)


def _answers(server: str, query: str, expected: float) -> bool:
    return prometheus.value(server, query) == expected


def _row(
    q: float, observed: Sequence[float], sleeps: Sequence[float], native: str, classic: str
) -> dict[str, float]:
    """One quantile: the truth, the seeded sleep's, and each Prometheus's estimate."""
    true_ms = true_quantile(observed, q) * 1000
    native_ms = prometheus.value(native, NATIVE_QUANTILE.replace("Q", str(q))) * 1000
    classic_ms = prometheus.value(classic, CLASSIC_QUANTILE.replace("Q", str(q))) * 1000
    return {
        "q": q,
        "true_ms": true_ms,
        "sleep_ms": true_quantile(sleeps, q),
        "native_ms": native_ms,
        "native_error": native_ms / true_ms - 1,
        "classic_ms": classic_ms,
        "classic_error": classic_ms / true_ms - 1,
    }


def _native_layout(native: str) -> tuple[int, int]:
    """The schema Prometheus stored, read off a bucket's edges, and the populated buckets."""
    (result,) = prometheus.query(native, f"sum({SERIES})")
    buckets = result["histogram"][1]["buckets"]
    lower, upper = next((float(low), float(up)) for _, low, up, _ in buckets if float(low) > 0)
    return round(-math.log2(math.log2(upper / lower))), len(buckets)


async def _load(app: str, sleeps: Sequence[float], concurrency: int) -> None:
    """Every sleep as one request, over ``concurrency`` keep-alive connections."""
    pending = iter(sleeps)  # shared: each connection takes the next sleep
    port = httpx.URL(app).port or 80
    await asyncio.gather(*(_connection(port, pending) for _ in range(concurrency)))


async def _connection(port: int, pending: Iterator[float]) -> None:
    """Bare HTTP/1.1 on one connection: httpx spent more CPU per request than the app."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for ms in pending:
            writer.write(f"GET {ENDPOINT}?ms={ms:.3f} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
            head = (await reader.readuntil(b"\r\n\r\n")).lower()
            if not head.startswith(b"http/1.1 200 "):
                raise RuntimeError(f"GET {ENDPOINT}?ms={ms:.3f} answered {head!r}")
            length = head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0]
            await reader.readexactly(int(length))
    finally:
        writer.close()
        await writer.wait_closed()


def report_lines(result: dict[str, Any] | None) -> list[str]:
    """docs/benchmarks.md's accuracy section: true, native and classic quantiles side by side."""
    lines = ["## Native histogram accuracy", ""]
    if result is None:
        return [*lines, "Not run.", ""]
    if "skipped" in result:
        return [*lines, f"Skipped: {result['skipped']}.", ""]
    shape = result["distribution"]
    low, high = shape["clip_ms"]
    lines += [
        f"{result['requests']:,} requests, {result['concurrency']} at a time, to a route that "
        f"sleeps a seeded lognormal time (median {shape['median_ms']:g} ms, sigma "
        f"{shape['sigma']:g}, clipped to {low:g} ms to {high / 1000:g} s); true is the exact "
        "quantile of the durations the middleware observed (sleep plus server time); native "
        f"at schema {result['bound_schema']} must be within one bucket, \u00b1"
        f"{result['bound']:.2%}.",
        "",
        "| quantile | true | native | error | classic | error |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["quantiles"]:
        lines.append(
            f"| p{row['q'] * 100:g} | {row['true_ms']:.1f} ms | {row['native_ms']:.1f} ms | "
            f"{row['native_error']:+.1%} | {row['classic_ms']:.1f} ms | "
            f"{row['classic_error']:+.1%} |"
        )
    queries = result["queries"]
    listed = ", ".join(f"{name} {version}" for name, version in result["versions"].items())
    return [
        *lines,
        "",
        f"Two Prometheus scraped the app every second: native histograms on (protobuf; stored "
        f"at schema {result['native_schema']}, {result['native_populated_buckets']} buckets "
        f"populated), queried as `{queries['native']}`; and off (text; "
        f"{result['classic_buckets']} default buckets), queried as `{queries['classic']}`. "
        "Both read the cumulative counts after the last request: the series began empty, so "
        "no `increase()` extrapolates.",
        "",
        *("Commands:", "", "```sh", *result["commands"], "```", ""),
        f"Versions: {listed}.",
        "",
    ]


def main() -> int:
    """Measure, write DIR/accuracy.json and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REQUESTS:,} requests")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    arguments = parser.parse_args()
    try:
        prometheus.binary()
    except prometheus.PrometheusUnavailable as error:
        result: dict[str, Any] = {"skipped": str(error)}
    else:
        with tempfile.TemporaryDirectory(prefix="accuracy-") as directory:
            result = measure(Path(directory), quick=arguments.quick)
    path = write_results("accuracy", result, arguments.results_dir)
    print("\n".join(report_lines(result)))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
