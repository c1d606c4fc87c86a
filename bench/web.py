"""`python -m bench.web [--quick]`: folio-web's pages and beacons per second, metrics on and off.

One folio-api process on a seeded temporary SQLite database serves the pages' data for the
whole part. Each variant of bench/web_apps.py is served by one pinned uvicorn worker, started
once and kept up; wrk on the other core loads GET /, GET /projects/{slug} and POST /api/rum,
variants interleaved and rotated per round, and each metrics-on run is compared with the
metrics-off run of the same request in the same round.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bench.common import (
    RESULTS_DIR,
    ROOT,
    free_port,
    median,
    paired_ratios,
    pinned_uvicorn,
    versions,
    write_results,
)
from bench.overhead import (
    CLIENT_CPU,
    CONFIGURATIONS,
    HOST,
    MEASUREMENT_ERRORS,
    SERVER_CPU,
    Server,
    VariantFailed,
    cpu_seconds,
    missing_tools,
    parse_wrk,
    rotated,
    run_wrk,
    running_process,
)
from bench.web_apps import VARIANT_ENV, VARIANTS
from folio.web.beacons import parse_beacon
from folio.web.observability import METRICS_PATH

# Fewer than the 20 keep-alive connections of folio-web's httpx pool to folio-api: a page
# request never waits for, or opens, a connection of its own.
CONNECTIONS = 16
PAGES = ("/", "/projects/{slug}")
BEACONS = "/api/rum"
# Beacons a client may send per minute and at once, and beacons an hour whose vitals are
# observed: wrk is one client, never to be refused, and dropped vitals would skip the
# histograms and flatter what a beacon costs.
RUM_LIMIT = 1_000_000_000
SEED_TIMEOUT = 120
PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "httpx", "jinja2")
ACCEPTED = re.compile(rb'^rum_beacons_total\{result="accepted"\} ([\d.e+]+)$', re.M)


@dataclass(frozen=True)
class Settings:
    rounds: int
    duration: int
    warmup: int


@dataclass(frozen=True)
class Workload:
    """One kind of request: its results key (a route template), method and concrete path."""

    name: str
    method: str
    path: str


@dataclass(frozen=True)
class Sample:
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    api_cpu_us_per_request: float
    web_core_busy: float
    requests: int
    socket_errors: int


Samples = dict[str, dict[str, list[Sample]]]
Failures = dict[str, dict[str, str]]


# --- requests and beacons ------------------------------------------------------------------


def workloads(slug: str) -> list[Workload]:
    return [
        Workload("/", "GET", "/"),
        Workload("/projects/{slug}", "GET", f"/projects/{slug}"),
        Workload(BEACONS, "POST", BEACONS),
    ]


def beacon_body(slug: str) -> str:
    """A beacon as rum.js sends it when a project page is hidden: vitals and asset timings."""
    vitals = {"TTFB": 86.4, "FCP": 412.0, "LCP": 655.2, "CLS": 0.012, "INP": 48}
    assets = [("stylesheet", 18.3), ("script", 24.9), ("script", 31.7)]
    beacon = {
        "page": f"/projects/{slug}",
        "vitals": [{"name": name, "value": value} for name, value in vitals.items()],
        "resources": [{"type": kind, "duration": duration} for kind, duration in assets],
        "errors": [],
    }
    return json.dumps(beacon, separators=(",", ":"))  # as compact as JSON.stringify's


def check_beacon_body(body: str) -> None:
    """folio-web's own validator keeps every item of the beacon: nothing is dropped."""
    beacon = parse_beacon(json.loads(body))
    if beacon.dropped or len(beacon.vitals) != 5 or len(beacon.assets) != 3:
        raise VariantFailed(f"the bench's beacon does not validate whole: {beacon}")


def beacon_script(slug: str) -> str:
    """wrk's Lua script: POST the beacon, text/plain, from the site's own origin."""
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = [[{beacon_body(slug)}]]\n"
        'wrk.headers["Content-Type"] = "text/plain;charset=UTF-8"\n'
        'wrk.headers["Origin"] = "http://" .. wrk.host .. ":" .. wrk.port\n'
    )


def beacon_headers(port: int) -> dict[str, str]:
    return {"Origin": f"http://{HOST}:{port}", "Content-Type": "text/plain;charset=UTF-8"}


def fetch(
    port: int,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# --- commands ------------------------------------------------------------------------------


def api_command(port: int) -> list[str]:
    return [
        "taskset",
        "-c",
        CLIENT_CPU,
        sys.executable,
        "-m",
        "folio",
        "api",
        "--host",
        HOST,
        "--port",
        str(port),
    ]


def web_command(port: int) -> list[str]:
    return pinned_uvicorn(
        "bench.web_apps:app", port, CONFIGURATIONS["fast"], cpu=SERVER_CPU, host=HOST
    )


def wrk_command(
    port: int, workload: Workload, duration: int, script: Path, *, latency: bool = True
) -> list[str]:
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s"]
    if latency:
        command.append("--latency")
    if workload.method == "POST":
        command += ["-s", str(script)]
    return [*command, f"http://{HOST}:{port}{workload.path}"]


def clean_environment() -> dict[str, str]:
    """The caller's environment without FOLIO_* settings (a metrics token would skew runs)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("FOLIO_")}


def api_environment(database: Path) -> dict[str, str]:
    return clean_environment() | {
        "FOLIO_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "FOLIO_LOG_LEVEL": "warning",
    }


def web_environment(variant: str, api_port: int) -> dict[str, str]:
    return clean_environment() | {
        VARIANT_ENV: variant,
        "FOLIO_API_URL": f"http://{HOST}:{api_port}",
        "FOLIO_RUM_RATE_PER_MINUTE": str(RUM_LIMIT),
        "FOLIO_RUM_BURST": str(RUM_LIMIT),
        "FOLIO_RUM_VITALS_PER_HOUR": str(RUM_LIMIT),
    }


def example_commands(settings: Settings, slug: str) -> list[str]:
    """What one measurement runs, as it can be pasted into a shell from the repository root."""
    python = os.path.relpath(sys.executable, ROOT)
    api = api_command(8001)
    api[3] = python
    web = web_command(8000)
    web[3] = python
    api_settings = _assignments(api_environment(Path("bench-web.db")))
    commands = [
        f"{api_settings} {python} -m folio db seed",
        f"{api_settings} {shlex.join(api)} &",
        f"{_assignments(web_environment('metrics-on', 8001))} {shlex.join(web)} &",
        "cat > beacon.lua <<'EOF'",
        *beacon_script(slug).splitlines(),
        "EOF",
    ]
    for workload in workloads(slug):
        wrk = wrk_command(8000, workload, settings.duration, Path("beacon.lua"))
        commands.append(shlex.join(wrk))
    commands.append(f"{python} -m bench.web" + (" --quick" if settings.rounds == 1 else ""))
    return commands


def _assignments(environment: dict[str, str]) -> str:
    return " ".join(
        f"{name}={shlex.quote(value)}"
        for name, value in environment.items()
        if name.startswith("FOLIO_")
    )


# --- the servers ---------------------------------------------------------------------------


@contextmanager
def running_api(directory: Path) -> Iterator[Server]:
    """folio-api on a freshly seeded SQLite database, pinned beside wrk."""
    environment = api_environment(directory / "folio.db")
    seeded = subprocess.run(
        [sys.executable, "-m", "folio", "db", "seed"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SEED_TIMEOUT,
        check=False,
    )
    if seeded.returncode:
        raise VariantFailed(f"folio db seed exited {seeded.returncode}: {seeded.stderr[-300:]}")
    port = free_port()
    with running_process("folio-api", port, api_command(port), environment) as server:
        yield server


def newest_slug(api: Server) -> str:
    """The slug of the newest published project, from folio-api itself."""
    status, body = fetch(api.port, "GET", "/api/projects?limit=1")
    items = json.loads(body).get("items") if status == 200 else None
    if not items:
        raise VariantFailed(f"GET /api/projects answered {status}: {body[:200]!r}")
    return str(items[0]["slug"])


def accepted_beacons(server: Server) -> float:
    status, body = fetch(server.port, "GET", METRICS_PATH)
    match = ACCEPTED.search(body)
    if status != 200 or match is None:
        raise VariantFailed(f"GET {METRICS_PATH} answered {status} without accepted beacons")
    return float(match[1])


def check_variant(server: Server, slug: str) -> None:
    """Both pages render and a beacon is taken; only metrics-on serves /api/metrics."""
    for workload in workloads(slug)[:2]:
        status, body = fetch(server.port, "GET", workload.path)
        if status != 200 or b"</html>" not in body:
            raise VariantFailed(f"GET {workload.path} answered {status}: {body[:200]!r}")
    headers = beacon_headers(server.port)
    status, body = fetch(server.port, "POST", BEACONS, beacon_body(slug), headers)
    if status != 204:
        raise VariantFailed(f"POST {BEACONS} answered {status}: {body[:200]!r}")
    status, body = fetch(server.port, "GET", METRICS_PATH)
    if server.variant == "metrics-off":
        if status != 404:
            raise VariantFailed(f"GET {METRICS_PATH} answered {status} with metrics off")
        return
    lines = body.decode().splitlines() if status == 200 else []
    for page in PAGES:
        marker = f'endpoint="{page}"'
        if not any(line.startswith("http_requests_total{") and marker in line for line in lines):
            raise VariantFailed(f"GET {METRICS_PATH} answered {status} without {page} in it")
    if accepted_beacons(server) < 1:
        raise VariantFailed("the beacon answered 204 but was not counted as accepted")


@contextmanager
def running_web(variant: str, api: Server, slug: str) -> Iterator[Server]:
    """One pinned uvicorn worker serving folio-web as ``variant``, checked before use."""
    port = free_port()
    environment = web_environment(variant, api.port)
    with running_process(variant, port, web_command(port), environment) as server:
        check_variant(server, slug)
        yield server


# --- one measurement -----------------------------------------------------------------------


def measure(
    web: Server, api: Server, workload: Workload, round_: int, settings: Settings, script: Path
) -> Sample:
    counted = workload.name == BEACONS and web.variant == "metrics-on"
    accepted_before = accepted_beacons(web) if counted else 0.0
    web_before, api_before = cpu_seconds(web.process.pid), cpu_seconds(api.process.pid)
    started = time.monotonic()
    output = run_wrk(wrk_command(web.port, workload, settings.duration, script), settings.duration)
    elapsed = time.monotonic() - started
    web_cpu = cpu_seconds(web.process.pid) - web_before
    api_cpu = cpu_seconds(api.process.pid) - api_before
    for server in (web, api):
        if server.process.poll() is not None:
            raise VariantFailed(f"{server.variant} died under load: {server.error_tail()}")
    result = parse_wrk(output)
    if result.non_2xx or not result.requests:
        raise VariantFailed(f"{result.non_2xx} non-2xx of {result.requests} responses")
    if counted and accepted_beacons(web) - accepted_before < result.requests:
        raise VariantFailed(f"fewer accepted beacons counted than wrk's {result.requests}")
    return Sample(
        round=round_,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_us_per_request=web_cpu * 1e6 / result.requests,
        api_cpu_us_per_request=api_cpu * 1e6 / result.requests,
        web_core_busy=web_cpu / elapsed,
        requests=result.requests,
        socket_errors=result.socket_errors,
    )


def start_servers(
    stack: ExitStack,
    api: Server,
    slug: str,
    settings: Settings,
    script: Path,
    failures: Failures,
) -> dict[str, Server]:
    """One checked, warmed-up server per variant, all alive at once, until ``stack`` closes."""
    servers: dict[str, Server] = {}
    for variant in VARIANTS:
        try:
            server = stack.enter_context(running_web(variant, api, slug))
            for workload in workloads(slug) if settings.warmup else []:
                warmup = wrk_command(server.port, workload, settings.warmup, script, latency=False)
                run_wrk(warmup, settings.warmup)
        except MEASUREMENT_ERRORS as error:
            for failed in failures.values():
                failed[variant] = str(error) or type(error).__name__
            print(f"{variant:<12} FAILED to start: {failures[BEACONS][variant]}", flush=True)
            continue
        servers[variant] = server
    return servers


def run_rounds(
    api: Server, slug: str, settings: Settings, script: Path
) -> tuple[Samples, Failures]:
    """Every round: each request kind on each variant, both orders rotated per round."""
    kinds = {workload.name: workload for workload in workloads(slug)}
    samples: Samples = {name: {variant: [] for variant in VARIANTS} for name in kinds}
    failures: Failures = {name: {} for name in kinds}
    with ExitStack() as stack:
        servers = start_servers(stack, api, slug, settings, script, failures)
        for round_ in range(settings.rounds):
            for name in rotated(list(kinds), round_):
                for variant in rotated(VARIANTS, round_):
                    if variant in failures[name]:
                        continue
                    label = f"[round {round_ + 1}/{settings.rounds}] {name:<17} {variant:<12}"
                    try:
                        sample = measure(
                            servers[variant], api, kinds[name], round_, settings, script
                        )
                    except MEASUREMENT_ERRORS as error:
                        failures[name][variant] = str(error) or type(error).__name__
                        print(f"{label} FAILED: {failures[name][variant]}", flush=True)
                        continue
                    samples[name][variant].append(sample)
                    print(
                        f"{label} {sample.rps:8,.0f} req/s  p99 {sample.p99_ms:6.2f} ms  "
                        f"{sample.cpu_us_per_request:5.0f} CPU µs/req  "
                        f"web core {sample.web_core_busy:4.0%}",
                        flush=True,
                    )
    return samples, failures


# --- summaries -----------------------------------------------------------------------------


def summarise_variant(samples: list[Sample], failure: str | None) -> dict[str, Any]:
    if not samples:
        return {"skipped": failure or "not measured"}
    summary: dict[str, Any] = {
        key: median([getattr(sample, key) for sample in samples])
        for key in (
            "rps",
            "p50_ms",
            "p99_ms",
            "cpu_us_per_request",
            "api_cpu_us_per_request",
            "web_core_busy",
        )
    }
    summary["rounds"] = [asdict(sample) for sample in samples]
    if failure:
        summary["error"] = failure
    return summary


def summarise_workload(
    workload: Workload, samples: dict[str, list[Sample]], failures: dict[str, str]
) -> dict[str, Any]:
    """Each variant's medians; metrics-on's throughput and CPU over metrics-off's, paired."""
    off = {sample.round: sample for sample in samples["metrics-off"]}
    on = [sample for sample in samples["metrics-on"] if sample.round in off]
    return {
        "request": f"{workload.method} {workload.path}",
        "ratio_on_off": paired_ratios(
            [off[sample.round].rps for sample in on], [sample.rps for sample in on]
        ),
        "cpu_ratio_on_off": paired_ratios(
            [off[sample.round].cpu_us_per_request for sample in on],
            [sample.cpu_us_per_request for sample in on],
        ),
        "variants": {
            variant: summarise_variant(samples[variant], failures.get(variant))
            for variant in VARIANTS
        },
    }


def summarise(slug: str, samples: Samples, failures: Failures) -> dict[str, Any]:
    kinds = {workload.name: workload for workload in workloads(slug)}
    summaries = {
        name: summarise_workload(workload, samples[name], failures[name])
        for name, workload in kinds.items()
    }
    beacons = summaries.pop(BEACONS)
    shipped = beacons["variants"]["metrics-on"]
    beacons["per_core"] = shipped.get("rps", 0.0)
    cpu_us = shipped.get("cpu_us_per_request", 0.0)
    beacons["per_cpu_second"] = 1e6 / cpu_us if cpu_us else 0.0
    return {"pages": summaries, "beacons": beacons}


def method_text(settings: Settings, slug: str) -> str:
    return (
        "folio-api (`python -m folio api`, as shipped, log level warning) on a temporary "
        "SQLite database filled by `folio db seed`, pinned to CPU "
        f"{CLIENT_CPU} beside wrk and started once for the whole part. folio-web: one uvicorn "
        f"worker ({' '.join(CONFIGURATIONS['fast'])}) pinned to CPU {SERVER_CPU} serving "
        "bench.web_apps:app, FOLIO_API_URL pointing at that folio-api. metrics-on is "
        "folio.web.app.create_app(WebSettings()) exactly as shipped; metrics-off is the same app "
        "with folio_metrics' MetricsMiddleware (every http_* family) and its /api/metrics route "
        "removed before the app first runs. Both keep what is folio-web's own code: the page "
        "counters and timers (page_views_total, ssr_duration_seconds, api_calls_total, "
        "api_call_duration_seconds), the beacon families, and the loop-lag sampler; neither has "
        "the connection-counting uvicorn protocol that `folio web` installs. Before measuring, "
        "each variant must render both pages with 200 and take a beacon with 204; metrics-on "
        "must show http_requests_total for both page routes at /api/metrics, metrics-off must "
        f"answer 404 there. `wrk -t1 -c{CONNECTIONS}` pinned to CPU {CLIENT_CPU} (fewer "
        "connections than the 20 that folio-web's httpx pool keeps open to folio-api) loads "
        f"GET /, GET /projects/{slug} (the newest seeded project; each page makes one "
        f"folio-api call) and POST /api/rum for {settings.duration} s per run. Both variants' "
        f"servers start once, {_warmed_up(settings)} and stay up. "
        f"{settings.rounds} round(s); in each, every request runs once on each variant, the "
        "order of requests and of variants rotated per round. Figures are medians over "
        "rounds; the on/off ratios pair each metrics-on run with the metrics-off run of the "
        "same request and round. CPU µs/request is the folio-web process's user+system time "
        "during the run over the requests wrk completed; web core busy is that CPU time over "
        "the run's wall time. Near 100 %, folio-web's core was the limit; well below, the other "
        "core, shared by wrk and folio-api, was, and the req/s ratio then understates what "
        "metrics cost folio-web: read the CPU ratio. Beacons: a wrk Lua script POSTs one "
        f"{len(beacon_body(slug))}-byte beacon as rum.js sends it (text/plain, five vitals and "
        "three asset timings, Origin the site's own); FOLIO_RUM_RATE_PER_MINUTE and "
        f"FOLIO_RUM_BURST are {RUM_LIMIT:,} on both servers so that the per-client limiter "
        "(wrk is one client) never refuses. Every beacon must answer 204, and on metrics-on "
        'rum_beacons_total{result="accepted"} must grow by at least wrk\'s count. Beacons per '
        "second per core is metrics-on's median req/s on that one worker on one core; per "
        "CPU-second is 10^6 over its CPU µs per beacon."
    )


def _warmed_up(settings: Settings) -> str:
    if not settings.warmup:
        return "answer the checks' requests (no warm-up)"
    return f"are warmed up with {settings.warmup} s of wrk per request"


def _ratio(ratio: dict[str, float]) -> str:
    return f"{ratio['median']:.3f} ({ratio['min']:.3f}-{ratio['max']:.3f})"


def print_table(pages: dict[str, Any], beacons: dict[str, Any]) -> None:
    print(
        f"\n{'request':<18}{'variant':<13}{'req/s':>7}  {'on/off (min-max)':<21}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'CPU µs/req':>11}  {'CPU on/off (min-max)':<21}"
        f"{'web core':>8}"
    )
    for name, row in [*pages.items(), (BEACONS, beacons)]:
        for variant, summary in row["variants"].items():
            if "skipped" in summary:
                print(f"{name:<18}{variant:<13}skipped: {summary['skipped']}")
                continue
            shipped = variant == "metrics-on"
            rps_ratio = _ratio(row["ratio_on_off"]) if shipped else ""
            cpu_ratio = _ratio(row["cpu_ratio_on_off"]) if shipped else ""
            print(
                f"{name:<18}{variant:<13}{summary['rps']:>7,.0f}  {rps_ratio:<21}"
                f"{summary['p50_ms']:>8.2f}{summary['p99_ms']:>8.2f}"
                f"{summary['cpu_us_per_request']:>11.0f}  {cpu_ratio:<21}"
                f"{summary['web_core_busy']:>8.0%}"
            )
    print(
        f"\nbeacons/s per core (metrics-on): {beacons['per_core']:,.0f}; "
        f"per CPU-second: {beacons['per_cpu_second']:,.0f}"
    )


# --- entry point ---------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="1 round of 1 s runs, no warm-up: a smoke run"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def _exit_on_sigterm(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the finally blocks that stop the servers


def run_part(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Start folio-api, find the page to load, then run every round; the slug and summaries."""
    with tempfile.TemporaryDirectory() as directory, running_api(Path(directory)) as api:
        slug = newest_slug(api)
        check_beacon_body(beacon_body(slug))
        script = Path(directory) / "beacon.lua"
        script.write_text(beacon_script(slug))
        return slug, summarise(slug, *run_rounds(api, slug, settings, script))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    missing = missing_tools()
    if missing:
        print(f"bench.web: {' and '.join(missing)} not found on PATH", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = Settings(rounds=1, duration=1, warmup=0) if arguments.quick else Settings(15, 3, 2)
    started = time.monotonic()
    try:
        slug, results = run_part(settings)
    except MEASUREMENT_ERRORS as error:
        print(f"bench.web: folio-api: {error}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    path = write_results(
        "web",
        {
            "quick": arguments.quick,
            "settings": asdict(settings)
            | {"connections": CONNECTIONS, "slug": slug, "rum_limit": RUM_LIMIT},
            "elapsed_seconds": round(elapsed, 1),
            **results,
            "method": method_text(settings, slug),
            "commands": example_commands(settings, slug),
            "versions": versions(*PACKAGES),
        },
        arguments.results_dir,
    )
    print_table(results["pages"], results["beacons"])
    print(f"\n{elapsed:.0f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
