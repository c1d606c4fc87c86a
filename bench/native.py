"""`python -m bench.native [--quick]`: what native histograms cost and save.

Sizes and render time of N http_request_duration_seconds series as text with classic
buckets, protobuf with classic buckets, and protobuf with native and classic buckets; the
library's hand-written protobuf encoder raced against the protobuf package's (bench/proto,
made by `make proto`); and, full mode only, how many series two real Prometheus servers,
one with native histograms on, store for the same requests.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from folio_metrics import instrument
from folio_metrics.exposition import render
from folio_metrics.families import HistogramFamily
from folio_metrics.http import DURATION_BUCKETS
from folio_metrics.native import DEFAULT_NATIVE, NativeBuckets
from folio_metrics.protobuf import render_protobuf
from folio_metrics.registry import MetricsRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bench import prometheus
from bench.common import RESULTS_DIR, ROOT, free_port, median, stop, versions
from bench.common import write_results as write_json
from bench.proto.encode import race, race_lines, repeat
from bench.scrape import LABELS, METHODS, STATUSES, populate

NAME = "http_request_duration_seconds"
HELP = "Request duration, pre-populated for the native histogram benchmark."
OBSERVATIONS = 30  # per series
MEDIAN_SECONDS = 0.05
SIGMA = 0.8  # lognormal: p99 about 6.4 times the median
SEED = 19
GZIP_LEVEL = 1  # what folio_metrics' /metrics compresses with
FORMATS = {
    "text_classic": "text, classic buckets",
    "protobuf_classic": "protobuf, classic buckets",
    "protobuf_native": "protobuf, native + classic buckets",
}
TITLE = "Native histograms: scrape size, render time and stored series"
ROUTES = 20
REQUESTS_PER_ROUTE = 10
PACKAGES = ("protobuf", "grpcio-tools", "prometheus-client", "uvicorn", "starlette")

Data = list[tuple[tuple[str, str, str], list[float]]]


def series_data(count: int) -> Data:
    """``count`` label sets, each with OBSERVATIONS seeded lognormal latencies."""
    rng = random.Random(SEED)
    mu = math.log(MEDIAN_SECONDS)
    return [
        (
            (
                METHODS[index % len(METHODS)],
                f"/api/v1/resource{index // 20}/{{item_id}}",
                STATUSES[index // len(METHODS) % len(STATUSES)],
            ),
            [rng.lognormvariate(mu, SIGMA) for _ in range(OBSERVATIONS)],
        )
        for index in range(count)
    ]


def histogram(data: Data, native: NativeBuckets | None) -> tuple[MetricsRegistry, HistogramFamily]:
    registry = MetricsRegistry(default_max_series=len(data) + 10)
    family = registry.histogram(NAME, HELP, LABELS, buckets=DURATION_BUCKETS, native=native)
    populate(family.labels, data)
    return registry, family


def sizes_and_times(series: int, repetitions: int) -> dict[str, Any]:
    """Bytes per scrape (raw and gzipped) and median render ms of each format."""
    data = series_data(series)
    classic, _ = histogram(data, None)
    native, _ = histogram(data, DEFAULT_NATIVE)
    functions = {
        "text_classic": partial(render, classic),
        "protobuf_classic": partial(render_protobuf, classic),
        "protobuf_native": partial(render_protobuf, native),
    }
    bodies = {name: function() for name, function in functions.items()}  # warm-up too
    if render(native) != bodies["text_classic"]:
        raise AssertionError("text with native buckets on differs from text without")
    times = repeat(functions, repetitions)
    return {
        name: {
            "bytes": len(body),
            "gzip_bytes": len(gzip.compress(body, GZIP_LEVEL)),
            "render_ms": round(median(times[name]), 2),
            "runs_ms": [round(value, 2) for value in times[name]],
        }
        for name, body in bodies.items()
    }


def encoders(series: int, repetitions: int) -> dict[str, Any]:
    """folio_metrics' encoder against the protobuf package's, on one native family."""
    registry, family = histogram(series_data(series), DEFAULT_NATIVE)
    return race(registry, family, repetitions)


# --- series Prometheus stores ---------------------------------------------------------------


async def _answer(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def series_app() -> Any:
    """uvicorn's ``--factory`` entry point: ROUTES routes, instrumented with the defaults."""
    routes = [Route(f"/r{number}/{{item_id:int}}", _answer) for number in range(ROUTES)]
    return instrument(Starlette(routes=routes))


def _scraped(server: str, total: int) -> bool:
    """Whether ``server`` has scraped all ``total`` requests."""
    return prometheus.value(server, "sum(http_requests_total)") == total


def _series(server: str, selector: str) -> int:
    """How many series match ``selector`` in ``server``'s head block."""
    response = httpx.get(
        f"{server}/api/v1/series", params={"match[]": selector, "start": time.time() - 300}
    )
    response.raise_for_status()
    return len(response.json()["data"])


def stored_series() -> dict[str, Any]:
    """One app, scraped at once by a Prometheus with native histograms on and one without."""
    ports: set[int] = set()
    while len(ports) < 3:  # distinct, though each was free only when asked
        ports.add(free_port())
    app_port, native_port, classic_port = sorted(ports)
    servers = {"native": f"http://127.0.0.1:{native_port}"}
    servers["classic"] = f"http://127.0.0.1:{classic_port}"
    environment = {key: value for key, value in os.environ.items() if key != "FOLIO_METRICS_DIR"}
    command = [sys.executable, "-m", "uvicorn", "bench.native:series_app", "--factory"]
    command += ["--port", str(app_port), "--log-level", "warning"]
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory, (Path(directory) / "log").open("wb") as log:
        processes = [subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)]
        try:
            for kind, port in (("native", native_port), ("classic", classic_port)):
                target, native = f"127.0.0.1:{app_port}", kind == "native"
                processes.append(
                    prometheus.start(Path(directory) / kind, target, port, native=native, log=log)
                )
            app = f"http://127.0.0.1:{app_port}"
            prometheus.wait_for(lambda: httpx.get(f"{app}/metrics").is_success, 20, "the app")
            with httpx.Client(base_url=app) as client:
                for number in range(ROUTES):
                    for item in range(REQUESTS_PER_ROUTE):
                        client.get(f"/r{number}/{item}").raise_for_status()
            total = ROUTES * REQUESTS_PER_ROUTE
            for server in servers.values():
                prometheus.wait_for(partial(_scraped, server, total), 20, "the requests")
            counts = {
                kind: {
                    "duration_series": _series(server, f'{{__name__=~"{NAME}.*"}}'),
                    "app_series": _series(server, '{job="app"}'),
                }
                for kind, server in servers.items()
            }
        finally:
            for process in reversed(processes):
                stop(process)
    return counts | {
        "prometheus": prometheus.version(),
        "routes": ROUTES,
        "requests": ROUTES * REQUESTS_PER_ROUTE,
        "seconds": round(time.monotonic() - started, 1),
    }


# --- report and entry point -------------------------------------------------------------------


def report_lines(result: dict[str, Any] | None) -> list[str]:
    """docs/benchmarks.md's section on native histograms, from native.json."""
    if result is None:
        return [f"## {TITLE}", "", "Not run.", ""]
    lines = [
        f"## {TITLE}",
        "",
        "The same http_request_duration_seconds series, "
        f"{OBSERVATIONS} seeded lognormal observations each (median {MEDIAN_SECONDS * 1e3:g} ms), "
        "scraped as text with classic buckets, as protobuf with classic buckets, and as "
        "protobuf with native buckets beside the classic ones (classic buckets: the family's "
        f"{len(DURATION_BUCKETS)} bounds and +Inf). Render times are medians of "
        f"{result['settings']['repetitions']} repetition(s), off any event loop; gzip at level "
        f"{GZIP_LEVEL}, as folio_metrics serves it.",
        "",
        "| series | format | bytes | gzip bytes | render ms |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for series, row in result["sizes"].items():
        for name, label in FORMATS.items():
            cell = row[name]
            lines.append(
                f"| {int(series):,} | {label} | {cell['bytes']:,} | {cell['gzip_bytes']:,} "
                f"| {cell['render_ms']:.1f} |"
            )
    lines += race_lines(result["encoders"])
    stored = result["series_stored"]
    listed = ", ".join(f"{name} {version}" for name, version in result["versions"].items())
    versions = [f"Versions: {listed}.", ""]
    if "skipped" in stored:
        return [*lines, "", f"Series stored: not measured ({stored['skipped']}).", "", *versions]
    return [
        *lines,
        "",
        f"Series stored by {stored['prometheus']} after {stored['requests']} requests over "
        f"{stored['routes']} routes, two servers scraping the same app every second; Prometheus "
        "2.42 with the feature keeps the native series and drops the classic ones:",
        "",
        f"| Prometheus | {NAME}* series | all of the app's series |",
        "| --- | ---: | ---: |",
        f"| --enable-feature=native-histograms | {stored['native']['duration_series']:,} "
        f"| {stored['native']['app_series']:,} |",
        f"| without the feature | {stored['classic']['duration_series']:,} "
        f"| {stored['classic']['app_series']:,} |",
        "",
        *versions,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.native", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 series, 1 repetition")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    arguments = parser.parse_args(argv)
    counts, repetitions = ((1_000,), 1) if arguments.quick else ((1_000, 10_000), 9)
    started = time.monotonic()
    sizes = {str(n): sizes_and_times(n, repetitions) for n in counts}
    # A 1,000-series race is over in milliseconds: more rounds to see past a busy CPU.
    encoded = {str(n): encoders(n, repetitions * (3 if n < 10_000 else 1)) for n in counts}
    stored = {"skipped": "quick mode"} if arguments.quick else stored_series()
    result = {
        "quick": arguments.quick,
        "settings": {"series": list(counts), "repetitions": repetitions, "gzip_level": GZIP_LEVEL},
        "sizes": sizes,
        "encoders": encoded,
        "series_stored": stored,
        "elapsed_seconds": round(time.monotonic() - started, 1),
        "versions": versions(*PACKAGES),
    }
    path = write_json("native", result, arguments.results_dir)
    print("\n".join(report_lines(result)))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
