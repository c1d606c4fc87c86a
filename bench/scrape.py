"""`python -m bench.scrape [--quick]`: what a scrape costs, folio beside prometheus_client.

Part 1 renders the same histogram series (3 labels, default buckets) with both libraries, in
text and OpenMetrics, with and without gzip, repetitions interleaved folio/prometheus_client.
Part 2 serves a small app (``bench.scrape:scrape_app --factory``) holding that many series
with one pinned uvicorn worker, loads GET /ping with wrk on the other core, alone and while a
thread scrapes /metrics in a loop, and compares the p99 latencies.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import math
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import IO, Any, Protocol

import httpx
import prometheus_client
from fastapi import FastAPI
from folio_metrics import ServiceMetrics
from folio_metrics.exposition import render
from folio_metrics.registry import MetricsRegistry
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    make_asgi_app,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text
from prometheus_client.samples import Sample as ClientSample

from bench.common import (
    RESULTS_DIR,
    ROOT,
    free_port,
    median,
    paired_ratios,
    pinned_uvicorn,
    stop,
    versions,
    write_results,
)
from bench.overhead_apps import folio_instrumented

METRIC = "bench_request_duration_seconds"
HELP = "Request duration, pre-populated for the scrape benchmark."
LABELS = ("method", "endpoint", "status")
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
STATUSES = ("200", "201", "404", "500")
OBSERVATIONS = 4  # per series
SEED = 6
GZIP_LEVEL = 6
FORMATS = ("text", "openmetrics")
LIBRARIES = ("folio", "prometheus_client")
# make_asgi_app is mounted at /metrics; Starlette redirects the bare path there.
SCRAPE_PATHS = {"folio": "/metrics", "prometheus_client": "/metrics/"}
# What Prometheus 2.x sends: OpenMetrics preferred, then text; both libraries honour it.
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
LIBRARY_ENV = "FOLIO_BENCH_SCRAPE_LIBRARY"
SERIES_ENV = "FOLIO_BENCH_SCRAPE_SERIES"
SERVER_CPU = "0"
CLIENT_CPU = "1"
CONNECTIONS = 16
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0
SCRAPE_TIMEOUT = 120.0
RENDER_TARGET = 10.0  # folio at least this many times faster than generate_latest, 10k series
LATENCY_TARGET = 2.0  # p99 while scraping at most this many times the p99 alone
PACKAGES = ("prometheus-client", "uvicorn", "fastapi", "starlette", "httpx", "uvloop")
TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
# wrk --latency stops at p99; a scrape that blocks the loop hits few requests, so add the tail.
WRK_SCRIPT = """\
done = function(summary, latency, requests)
  io.write(string.format("Tail p99.9: %.0fus\\n", latency:percentile(99.9)))
  io.write(string.format("Tail max: %.0fus\\n", latency.max))
end
"""

Data = list[tuple[tuple[str, str, str], list[float]]]
SampleKey = tuple[str, tuple[tuple[str, str], ...], float]


class BenchFailed(Exception):
    """A server did not start or answer correctly, or a tool failed."""


class Observer(Protocol):
    def observe(self, value: float, /) -> None: ...


@dataclass(frozen=True)
class Settings:
    render_series: tuple[int, ...]
    repetitions: int
    scrape_series: int
    rounds: int
    duration: int
    warmup: int


# --- the data ------------------------------------------------------------------------------


def default_buckets() -> list[float]:
    return [bound for bound in Histogram.DEFAULT_BUCKETS if not math.isinf(bound)]


def series_data(count: int) -> Data:
    """``count`` distinct label sets, each with a few observations spread over the buckets."""
    rng = random.Random(SEED)
    data: Data = []
    for index in range(count):
        labels = (
            METHODS[index % len(METHODS)],
            f"/api/v1/resource{index // 20}/{{item_id}}",
            STATUSES[index // len(METHODS) % len(STATUSES)],
        )
        data.append((labels, [rng.lognormvariate(-3.0, 1.5) for _ in range(OBSERVATIONS)]))
    return data


def populate(labels: Callable[..., Observer], data: Data) -> None:
    for label_values, values in data:
        child = labels(*label_values)
        for value in values:
            child.observe(value)


def folio_registry(data: Data) -> MetricsRegistry:
    registry = MetricsRegistry(default_max_series=len(data) + 10)
    populate(registry.histogram(METRIC, HELP, LABELS, buckets=default_buckets()).labels, data)
    return registry


def client_registry(data: Data) -> CollectorRegistry:
    registry = CollectorRegistry()
    populate(client_histogram(registry).labels, data)
    return registry


def client_histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram(METRIC, HELP, LABELS, buckets=default_buckets(), registry=registry)


# --- part 1: render cost -------------------------------------------------------------------


def renderers(folio: MetricsRegistry, client: CollectorRegistry) -> dict[str, Callable[[], bytes]]:
    return {
        "folio_text": partial(render, folio),
        "client_text": partial(generate_latest, client),
        "folio_openmetrics": partial(render, folio, openmetrics=True),
        "client_openmetrics": partial(generate_openmetrics, client),
    }


def timed(function: Callable[[], bytes]) -> tuple[float, bytes]:
    gc.collect()
    start = time.perf_counter()
    result = function()
    return (time.perf_counter() - start) * 1e3, result


def repetition_order(repetition: int) -> list[str]:
    """folio and prometheus_client alternate; who goes first flips every repetition."""
    order = []
    for format_ in FORMATS:
        pair = [f"folio_{format_}", f"client_{format_}"]
        order += pair if repetition % 2 == 0 else pair[::-1]
    return order


SELF_FAMILY_PREFIX = "folio_metrics_"


def sample_key(sample: ClientSample) -> SampleKey:
    return sample.name, tuple(sorted(sample.labels.items())), sample.value


def sample_lines(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def check_same_samples(bodies: dict[str, bytes], client: CollectorRegistry) -> int:
    """folio's output parses with prometheus_client's parsers and holds exactly its samples."""
    expected = {sample_key(sample) for metric in client.collect() for sample in metric.samples}
    parsers: dict[str, Callable[[str], Iterable[Metric]]] = {
        "text": parse_text,
        "openmetrics": parse_openmetrics,
    }
    for format_, parse in parsers.items():
        families = parse(bodies[f"folio_{format_}"].decode())
        # folio's own health families (the overflow counter is served at 0 for every capped
        # family) have no counterpart in prometheus_client.
        parsed = [
            sample_key(sample)
            for family in families
            if not family.name.startswith(SELF_FAMILY_PREFIX)
            for sample in family.samples
        ]
        client_count = sample_lines(bodies[f"client_{format_}"])
        if not len(parsed) == client_count == len(expected):
            raise AssertionError(
                f"{format_}: folio has {len(parsed)} samples, prometheus_client's output "
                f"{client_count}, its registry {len(expected)}"
            )
        if set(parsed) != expected:
            raise AssertionError(f"{format_}: folio's samples differ from prometheus_client's")
    return len(expected)


def render_cost(series: int, repetitions: int) -> dict[str, Any]:
    """Median render (and render+gzip) times of both libraries over the same ``series``."""
    data = series_data(series)
    folio, client = folio_registry(data), client_registry(data)
    functions = renderers(folio, client)
    # Warm-up, and the bodies for the checks: folio builds bucket prefixes on its first render.
    first_ms, _ = timed(functions["folio_text"])
    bodies = {name: function() for name, function in functions.items()}
    times: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    for repetition in range(repetitions):
        for name in repetition_order(repetition):
            render_ms, body = timed(functions[name])
            gzip_ms, compressed = timed(partial(gzip.compress, body, GZIP_LEVEL))
            sizes |= {name: len(body), f"{name}_gzip": len(compressed)}
            times.setdefault(f"{name}_ms", []).append(render_ms)
            times.setdefault(f"{name}_gzip_ms", []).append(render_ms + gzip_ms)
            times.setdefault(f"{name}_gzip_only_ms", []).append(gzip_ms)
        print(f"  [{series:,} series, repetition {repetition + 1}/{repetitions}]", flush=True)
    samples = check_same_samples(bodies, client)
    row: dict[str, Any] = {key: round(median(values), 3) for key, values in times.items()}
    for format_ in FORMATS:
        for suffix in ("", "_gzip"):
            row[f"speedup_{format_}{suffix}"] = paired_ratios(
                times[f"folio_{format_}{suffix}_ms"], times[f"client_{format_}{suffix}_ms"]
            )
    row["folio_first_render_ms"] = round(first_ms, 3)
    row["bytes"] = dict(sorted(sizes.items()))
    row["samples"] = samples
    row["repetitions"] = repetitions
    row["runs_ms"] = {key: [round(value, 3) for value in values] for key, values in times.items()}
    return row


# --- part 2: the app served during scrapes --------------------------------------------------


def _ping_app(**options: Any) -> FastAPI:
    app = FastAPI(title="folio scrape bench", **options)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return app


def _folio_app(series: int) -> FastAPI:
    metrics = ServiceMetrics(service="bench", version="0", commit="bench", max_series=2000)
    histogram = metrics.registry.histogram(
        METRIC, HELP, LABELS, buckets=default_buckets(), max_series=series + 10
    )
    populate(histogram.labels, series_data(series))
    return folio_instrumented(metrics, _ping_app)


def _client_app(series: int) -> FastAPI:
    # The same samples as folio's.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    populate(client_histogram(registry).labels, series_data(series))
    app = _ping_app()
    app.mount("/metrics", make_asgi_app(registry))  # renders and gzips on the event loop
    return app


def scrape_app() -> FastAPI:
    """uvicorn's ``--factory`` entry point; the library and series count come from the env."""
    library = os.environ.get(LIBRARY_ENV, "folio")
    series = int(os.environ.get(SERIES_ENV, "10000"))
    if library == "folio":
        return _folio_app(series)
    if library == "prometheus_client":
        return _client_app(series)
    raise ValueError(f"unknown library {library!r}; one of {', '.join(LIBRARIES)}")


# --- part 2: servers, wrk and the scraper ---------------------------------------------------


@dataclass
class Server:
    library: str
    port: int
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    def error_tail(self) -> str:
        self.stderr.seek(0)
        lines = self.stderr.read().decode(errors="replace").strip().splitlines()
        return " | ".join(lines[-2:]) or "(no output)"


@dataclass(frozen=True)
class Run:
    scraping: bool
    rps: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    requests: int
    errors: int
    scrapes: int = 0
    scrape_ms: float = float("nan")
    scrape_bytes: int = 0


def server_command(port: int) -> list[str]:
    options = ("--loop", "uvloop", "--http", "httptools")
    return pinned_uvicorn("bench.scrape:scrape_app", port, options, cpu=SERVER_CPU, host=HOST)


def wrk_command(port: int, duration: int, script: Path | None) -> list[str]:
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s"]
    if script is not None:
        # A loop blocked by a render holds requests for seconds; wrk's 2 s default would
        # drop them from the latencies.
        command += ["--latency", "--timeout", "60s", "-s", str(script)]
    return [*command, f"http://{HOST}:{port}/ping"]


def example_commands(settings: Settings) -> list[str]:
    python = os.path.relpath(sys.executable, ROOT)
    server = server_command(8000)
    server[3] = python
    commands = [
        f"{LIBRARY_ENV}={library} {SERIES_ENV}={settings.scrape_series} {shlex.join(server)} &"
        for library in LIBRARIES
    ]
    commands.append(shlex.join(wrk_command(8000, settings.duration, Path("tail.lua"))))
    commands.append(
        f"# meanwhile, in a loop: GET {SCRAPE_PATHS['folio']} (folio) or "
        f"{SCRAPE_PATHS['prometheus_client']} (prometheus_client), "
        f"Accept: Prometheus's, Accept-Encoding: gzip"
    )
    commands.append(f"{python} -m bench.scrape" + (" --quick" if settings.rounds == 1 else ""))
    return commands


def wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchFailed(f"server exited ({server.process.returncode}): {server.error_tail()}")
        try:
            if httpx.get(server.url("/ping"), timeout=5).json() == {"ok": True}:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise BenchFailed(f"{server.library} server not answering after {STARTUP_TIMEOUT:.0f} s")


def check_metrics(server: Server, series: int) -> None:
    """/metrics serves every pre-populated series (and warms folio's bucket prefixes)."""
    response = httpx.get(server.url(SCRAPE_PATHS[server.library]), timeout=SCRAPE_TIMEOUT)
    marker = f"{METRIC}_count{{".encode()
    found = sum(1 for line in response.content.splitlines() if line.startswith(marker))
    if response.status_code != 200 or found != series:
        raise BenchFailed(
            f"{server.library} /metrics answered {response.status_code} with {found} of "
            f"{series} series"
        )


@contextmanager
def running_server(library: str, series: int) -> Iterator[Server]:
    """One pinned uvicorn worker serving ``library``'s app, stopped whatever happens."""
    port = free_port()
    environment = {**os.environ, LIBRARY_ENV: library, SERIES_ENV: str(series)}
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            server_command(port),
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        server = Server(library, port, process, stderr)
        try:
            wait_until_ready(server)
            check_metrics(server, series)
            yield server
        finally:
            stop(process)


@dataclass
class Scraper:
    """A thread on the client core that GETs /metrics back to back, as fast as answered."""

    url: str
    durations_ms: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="scraper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=SCRAPE_TIMEOUT)

    def _run(self) -> None:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})  # this thread only
        headers = {"accept": PROMETHEUS_ACCEPT, "accept-encoding": "gzip"}
        try:
            with httpx.Client(headers=headers, timeout=SCRAPE_TIMEOUT) as client:
                while not self._stop.is_set():
                    self._scrape(client)
        except (httpx.HTTPError, BenchFailed) as error:
            self.error = str(error) or type(error).__name__

    def _scrape(self, client: httpx.Client) -> None:
        start = time.perf_counter()
        size = 0
        with client.stream("GET", self.url) as response:
            for chunk in response.iter_raw():  # as sent: no need to spend CPU inflating it
                size += len(chunk)
        if response.status_code != 200 or response.headers.get("content-encoding") != "gzip":
            raise BenchFailed(f"scrape answered {response.status_code} {response.headers}")
        self.durations_ms.append((time.perf_counter() - start) * 1e3)
        self.sizes.append(size)


def run_wrk(command: Sequence[str], duration: int) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 120, check=False
    )
    if result.returncode:
        raise BenchFailed(f"wrk exited {result.returncode}: {result.stderr.strip()[-300:]}")
    return result.stdout


def _milliseconds(pattern: str, output: str) -> float:
    match = re.search(pattern + r"\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    if match is None:
        raise BenchFailed(f"no {pattern!r} in wrk output: {output[-300:]!r}")
    return float(match[1]) * TIME_UNITS[match[2]]


def parse_wrk(output: str, scraping: bool) -> Run:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    requests = re.search(r"^\s*(\d+) requests in ", output, re.M)
    if rps is None or requests is None:
        raise BenchFailed(f"unreadable wrk output: {output[-300:]!r}")
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = sum(map(int, socket_errors.groups())) if socket_errors else 0
    return Run(
        scraping=scraping,
        rps=float(rps[1]),
        p50_ms=_milliseconds(r"^\s*50(?:\.0+)?%", output),
        p99_ms=_milliseconds(r"^\s*99(?:\.0+)?%", output),
        p999_ms=_milliseconds(r"^Tail p99\.9:", output),
        max_ms=_milliseconds(r"^Tail max:", output),
        requests=int(requests[1]),
        errors=errors + (int(non_2xx[1]) if non_2xx else 0),
    )


def measure(server: Server, settings: Settings, script: Path, scraping: bool) -> Run:
    """One wrk run against /ping, alone or beside a scraping loop."""
    scraper = Scraper(server.url(SCRAPE_PATHS[server.library])) if scraping else None
    try:
        if scraper is not None:
            scraper.start()
        output = run_wrk(wrk_command(server.port, settings.duration, script), settings.duration)
        completed = len(scraper.durations_ms) if scraper is not None else 0
    finally:
        if scraper is not None:
            scraper.stop()
    if server.process.poll() is not None:
        raise BenchFailed(f"{server.library} server died: {server.error_tail()}")
    run = parse_wrk(output, scraping)
    if run.errors or not run.requests:
        raise BenchFailed(f"{run.errors} errors of {run.requests} requests")
    if scraper is None:
        return run
    if scraper.error is not None or not completed:
        raise BenchFailed(f"scraper: {scraper.error or 'no scrape completed during the run'}")
    return Run(
        **asdict(run)
        | {
            "scrapes": completed,
            "scrape_ms": round(median(scraper.durations_ms), 1),
            "scrape_bytes": int(median(scraper.sizes)),
        }
    )


def round_runs(library: str, round_: int, settings: Settings, script: Path) -> list[Run]:
    """Both runs of one round on one fresh server; alone goes first on even rounds."""
    with running_server(library, settings.scrape_series) as server:
        if settings.warmup:
            run_wrk(wrk_command(server.port, settings.warmup, None), settings.warmup)
        order = [False, True] if round_ % 2 == 0 else [True, False]
        runs = []
        for scraping in order:
            run = measure(server, settings, script, scraping)
            runs.append(run)
            label = f"  [round {round_ + 1}/{settings.rounds}] {library:<18}"
            state = (
                f"scraping ({run.scrapes} scrapes, {run.scrape_ms:.0f} ms)" if scraping else "alone"
            )
            print(
                f"{label}{run.rps:8,.0f} req/s  p99 {run.p99_ms:8.2f} ms  "
                f"p99.9 {run.p999_ms:8.2f} ms  {state}",
                flush=True,
            )
    return sorted(runs, key=lambda run: run.scraping)


def summarise_library(runs: list[list[Run]]) -> dict[str, Any]:
    """Medians over rounds; the ratio pairs each round's scraping run with its alone run."""
    alone = [pair[0] for pair in runs]
    scraping = [pair[1] for pair in runs]
    ratio = paired_ratios([run.p99_ms for run in alone], [run.p99_ms for run in scraping])
    summary: dict[str, Any] = {}
    for name, group in (("alone", alone), ("scraping", scraping)):
        for metric in ("p50", "p99", "p999", "max"):
            summary[f"{metric}_ms_{name}"] = median([getattr(run, f"{metric}_ms") for run in group])
        summary[f"rps_{name}"] = median([run.rps for run in group])
    return summary | {
        "ratio": ratio["median"],
        "ratio_range": {"min": ratio["min"], "max": ratio["max"]},
        "rps_ratio": paired_ratios([run.rps for run in alone], [run.rps for run in scraping]),
        "scrapes": median([run.scrapes for run in scraping]),
        "scrape_ms": median([run.scrape_ms for run in scraping]),
        "scrape_bytes": int(median([run.scrape_bytes for run in scraping])),
        "rounds": [[asdict(run) for run in pair] for pair in runs],
    }


def during_scrape(settings: Settings) -> dict[str, Any]:
    runs: dict[str, list[list[Run]]] = {library: [] for library in LIBRARIES}
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "tail.lua"
        script.write_text(WRK_SCRIPT)
        for round_ in range(settings.rounds):
            order = LIBRARIES if round_ % 2 == 0 else LIBRARIES[::-1]
            for library in order:
                runs[library].append(round_runs(library, round_, settings, script))
    return {library: summarise_library(runs[library]) for library in LIBRARIES}


# --- summaries -----------------------------------------------------------------------------


def targets(render: dict[str, Any], during: dict[str, Any]) -> dict[str, Any]:
    largest = render.get("10000")
    speedups = (
        {f: largest[f"speedup_{f}"]["median"] for f in FORMATS} if largest is not None else {}
    )
    return {
        "render": {
            "folio_speedup_at_10000_series_at_least": RENDER_TARGET,
            "measured": speedups,
            "met": bool(speedups) and min(speedups.values()) >= RENDER_TARGET,
        },
        "during_scrape": {
            "folio_p99_ratio_at_most": LATENCY_TARGET,
            "measured": during["folio"]["ratio"],
            "met": during["folio"]["ratio"] <= LATENCY_TARGET,
        },
    }


def method_text(settings: Settings) -> str:
    return (
        f"Render: one histogram, labels {', '.join(LABELS)}, prometheus_client's default buckets, "
        f"N distinct label sets with {OBSERVATIONS} observations each, the same in both "
        "libraries; prometheus_client's _created series are disabled so both render the same "
        "samples (checked: folio's text and OpenMetrics output parse with prometheus_client's "
        "parsers into exactly the samples of prometheus_client's registry). After one warm-up "
        f"render each, {settings.repetitions} repetitions, each timing (perf_counter, after "
        "gc.collect) folio and prometheus_client alternately, who goes first flipping per "
        f"repetition; '_gzip' adds gzip.compress(body, {GZIP_LEVEL}) of that render's body. "
        "Figures are medians; speed-ups are medians of per-repetition prometheus_client/folio "
        "ratios. During scrape: a FastAPI app with GET /ping and "
        f"{settings.scrape_series:,} pre-populated series, one uvicorn worker (uvloop, "
        f"httptools) pinned to CPU {SERVER_CPU}; wrk -t1 -c{CONNECTIONS} pinned to CPU "
        f"{CLIENT_CPU} loads /ping for {settings.duration} s (after a {settings.warmup} s "
        "wrk warm-up and one /metrics request that checks every series is served), alone and "
        "while a thread pinned to the same CPU as wrk GETs /metrics back "
        "to back with Prometheus's Accept header (so OpenMetrics) and Accept-Encoding: gzip. "
        "folio: ServiceMetrics (its middleware also times /ping), its hooks in a worker "
        "thread, then rendering and gzip (level 1) on the event loop 64 series at a time, "
        "requests served between pieces; prometheus_client: make_asgi_app over a registry "
        "with the process, GC and platform collectors, rendering on the event loop. "
        "A fresh server per round; "
        f"{settings.rounds} round(s), library order and alone/scraping order alternating per "
        "round; the ratio pairs each round's runs. wrk's timeout is 60 s so stalled requests "
        "count in the latencies; p99.9 and max come from a wrk Lua done() hook."
    )


def print_table(render_rows: dict[str, Any], during: dict[str, Any]) -> None:
    print(
        f"\n{'render ms (median)':<28}{'folio':>9}{'prom_client':>13}  {'speed-up (min-max)':<22}"
    )
    for series, row in render_rows.items():
        for format_ in FORMATS:
            for suffix in ("", "_gzip"):
                speedup = row[f"speedup_{format_}{suffix}"]
                spread = f"{speedup['median']:.1f}x ({speedup['min']:.1f}-{speedup['max']:.1f})"
                name = f"{int(series):,} {format_}{' + gzip' if suffix else ''}"
                print(
                    f"{name:<28}{row[f'folio_{format_}{suffix}_ms']:>9.1f}"
                    f"{row[f'client_{format_}{suffix}_ms']:>13.1f}  {spread:<22}"
                )
    print(
        f"\n{'/ping during scrapes':<20}{'p99 alone':>11}{'p99 scraping':>14}{'ratio':>8}"
        f"{'p99.9 alone':>13}{'p99.9 scraping':>16}{'req/s ratio':>13}{'scrapes':>9}"
        f"{'scrape ms':>11}"
    )
    for library, row in during.items():
        print(
            f"{library:<20}{row['p99_ms_alone']:>11.2f}{row['p99_ms_scraping']:>14.2f}"
            f"{row['ratio']:>8.2f}{row['p999_ms_alone']:>13.2f}{row['p999_ms_scraping']:>16.2f}"
            f"{row['rps_ratio']['median']:>13.2f}{row['scrapes']:>9.0f}{row['scrape_ms']:>11.0f}"
        )


# --- entry point ---------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scrape", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="1,000 series, 2 repetitions, 1 round of 1 s runs"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the finally blocks that stop the servers


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    missing = [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]
    if missing:
        print(f"bench.scrape: {' and '.join(missing)} not found on PATH", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
    if arguments.quick:
        settings = Settings((1_000,), 2, scrape_series=1_000, rounds=1, duration=1, warmup=0)
    else:
        settings = Settings(
            (1_000, 10_000), 7, scrape_series=10_000, rounds=3, duration=8, warmup=1
        )
    started = time.monotonic()
    print("render cost (the 10,000-series prometheus_client renders take seconds)", flush=True)
    render_rows = {
        str(series): render_cost(series, settings.repetitions) for series in settings.render_series
    }
    render_elapsed = time.monotonic() - started
    print(f"requests during a scrape (render part took {render_elapsed:.0f} s)", flush=True)
    during = during_scrape(settings)
    elapsed = time.monotonic() - started
    path = write_results(
        "scrape",
        {
            "quick": arguments.quick,
            "settings": asdict(settings)
            | {"connections": CONNECTIONS, "accept": PROMETHEUS_ACCEPT},
            "elapsed_seconds": round(elapsed, 1),
            "render_elapsed_seconds": round(render_elapsed, 1),
            "render": render_rows,
            "during_scrape": during,
            "targets": targets(render_rows, during),
            "method": method_text(settings),
            "commands": example_commands(settings),
            "versions": versions(*PACKAGES),
        },
        arguments.results_dir,
    )
    print_table(render_rows, during)
    print(f"\n{elapsed:.0f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
