"""`python -m bench.overhead [--quick]`: what instrumentation costs a request, beside peers.

Every variant of bench/overhead_apps.py is served by one pinned uvicorn worker and loaded by
wrk on the other core, variants interleaved and rotated per round; each variant's throughput
is compared with the bare app's in the same round, so slow drifts of the machine cancel out.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
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
from typing import IO, Any

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
from bench.intervals import differences, mean_interval, plus_minus
from bench.overhead_apps import INSTRUMENTED, ROUTE_TEMPLATE, VARIANT_ENV, VARIANTS

CONFIGURATIONS: dict[str, tuple[str, ...]] = {
    "plain": ("--loop", "asyncio", "--http", "h11"),
    "fast": ("--loop", "uvloop", "--http", "httptools"),
}
SERVER_CPU = "0"
CLIENT_CPU = "1"
CONNECTIONS = 32
TARGET_PATH = "/api/projects/42"
FOLIO_TARGET = 0.95
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 30.0
PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "prometheus-fastapi-instrumentator",
    "starlette-exporter",
    "opentelemetry-instrumentation-fastapi",
    "prometheus-client",
)
TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


class VariantFailed(Exception):
    """The variant's server did not start, answer correctly or survive the load."""


MEASUREMENT_ERRORS = (VariantFailed, OSError, ValueError, subprocess.TimeoutExpired)


@dataclass(frozen=True)
class Settings:
    rounds: int
    duration: int
    warmup: int


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    socket_errors: int


@dataclass(frozen=True)
class Sample:
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    requests: int
    socket_errors: int


@dataclass
class Server:
    variant: str
    port: int
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]

    def error_tail(self, lines: int = 1) -> str:
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"


# --- commands ------------------------------------------------------------------------------


def server_command(configuration: str, port: int) -> list[str]:
    return pinned_uvicorn(
        "bench.overhead_apps:app", port, CONFIGURATIONS[configuration], cpu=SERVER_CPU, host=HOST
    )


def wrk_command(port: int, duration: int, *, latency: bool = True) -> list[str]:
    command = ["taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s"]
    if latency:
        command.append("--latency")
    return [*command, f"http://{HOST}:{port}{TARGET_PATH}"]


def example_commands(settings: Settings) -> list[str]:
    """What one measurement runs, as it can be pasted into a shell from the repository root."""
    python = os.path.relpath(sys.executable, ROOT)
    commands = []
    for configuration in CONFIGURATIONS:
        server = server_command(configuration, 8000)
        server[3] = python
        commands.append(f"{VARIANT_ENV}=folio {shlex.join(server)} &")
    commands.append(shlex.join(wrk_command(8000, settings.warmup, latency=False)))
    commands.append(shlex.join(wrk_command(8000, settings.duration)))
    return commands


# --- the server ----------------------------------------------------------------------------


def request(
    port: int, method: str, path: str, body: dict[str, Any] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def wait_until_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise VariantFailed(
                f"server exited ({server.process.returncode}): {server.error_tail()}"
            )
        try:
            if request(server.port, "GET", "/api/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise VariantFailed(f"server not answering after {STARTUP_TIMEOUT:.0f} s")


def check_answers(server: Server) -> None:
    """Every route answers as the bare app does, and the instrumentation really records."""
    status, body = request(server.port, "GET", TARGET_PATH)
    if status != 200 or json.loads(body).get("id") != 42:
        raise VariantFailed(f"GET {TARGET_PATH} answered {status}: {body[:200]!r}")
    project = {"name": "bench", "description": "overhead", "tags": ["a"]}
    status, body = request(server.port, "POST", "/api/projects", project)
    if status != 201 or json.loads(body) != project:
        raise VariantFailed(f"POST /api/projects answered {status}: {body[:200]!r}")
    status, body = request(server.port, "GET", "/metrics")
    if server.variant not in INSTRUMENTED:
        if status != 404:
            raise VariantFailed(f"GET /metrics answered {status} on an uninstrumented app")
    elif status != 200 or ROUTE_TEMPLATE.encode() not in body:
        raise VariantFailed(f"GET /metrics answered {status} without {ROUTE_TEMPLATE}")


@contextmanager
def running_process(
    name: str, port: int, command: list[str], environment: dict[str, str]
) -> Iterator[Server]:
    """A pinned server that answers /api/health, stopped whatever happens."""
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
        server = Server(name, port, process, stderr)
        try:
            wait_until_ready(server)
            yield server
        finally:
            stop(process)


@contextmanager
def running_server(variant: str, configuration: str) -> Iterator[Server]:
    """One pinned uvicorn worker serving ``variant``, checked, stopped whatever happens."""
    port = free_port()
    environment = {**os.environ, VARIANT_ENV: variant}
    with running_process(variant, port, server_command(configuration, port), environment) as server:
        check_answers(server)
        yield server


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5); the split starts at field 3, the state.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- wrk -----------------------------------------------------------------------------------


def run_wrk(command: Sequence[str], duration: int) -> str:
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=False
    )
    if result.returncode:
        raise VariantFailed(f"wrk exited {result.returncode}: {result.stderr.strip()[-300:]}")
    return result.stdout


def parse_wrk(output: str) -> WrkResult:
    """Throughput, the p50 and p99 latencies and error counts from ``wrk --latency``."""
    percentiles = {
        match[1]: float(match[2]) * TIME_UNITS[match[3]]
        for match in re.finditer(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    }
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    requests = re.search(r"^\s*(\d+) requests in ", output, re.M)
    if rps is None or requests is None or set(percentiles) != {"50", "99"}:
        raise VariantFailed(f"unreadable wrk output: {output[-300:]!r}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        rps=float(rps[1]),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        requests=int(requests[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(map(int, socket_errors.groups())) if socket_errors else 0,
    )


# --- one measurement -----------------------------------------------------------------------


def measure(server: Server, round_: int, settings: Settings) -> Sample:
    cpu_before = cpu_seconds(server.process.pid)
    output = run_wrk(wrk_command(server.port, settings.duration), settings.duration)
    cpu_after = cpu_seconds(server.process.pid)
    if server.process.poll() is not None:
        raise VariantFailed(f"server died under load: {server.error_tail()}")
    result = parse_wrk(output)
    if result.non_2xx or not result.requests:
        raise VariantFailed(f"{result.non_2xx} non-2xx of {result.requests} responses")
    return Sample(
        round=round_,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        cpu_us_per_request=(cpu_after - cpu_before) * 1e6 / result.requests,
        requests=result.requests,
        socket_errors=result.socket_errors,
    )


def rotated(variants: Sequence[str], round_: int) -> list[str]:
    shift = round_ % len(variants)
    return [*variants[shift:], *variants[:shift]]


def start_servers(
    stack: ExitStack, configuration: str, settings: Settings, failures: dict[str, str]
) -> dict[str, Server]:
    """One warmed-up server per variant still standing, all up at once, until ``stack`` closes."""
    servers: dict[str, Server] = {}
    for variant in VARIANTS:
        if variant in failures:
            continue
        try:
            server = stack.enter_context(running_server(variant, configuration))
            run_wrk(wrk_command(server.port, settings.warmup, latency=False), settings.warmup)
        except MEASUREMENT_ERRORS as error:
            failures[variant] = str(error) or type(error).__name__
            print(f"[{configuration}] {variant:<18} FAILED to start: {failures[variant]}")
            continue
        servers[variant] = server
    return servers


def run_configuration(
    configuration: str, settings: Settings
) -> tuple[dict[str, list[Sample]], dict[str, str]]:
    """Every round of every variant under one server configuration; failures stop a variant.

    Each round starts a fresh server per variant, so one process's luck (its memory
    layout, say) does not follow a variant through every round, then runs each for a few
    seconds in a rotated order: short, interleaved runs let the machine's drifts hit every
    variant alike.
    """
    samples: dict[str, list[Sample]] = {variant: [] for variant in VARIANTS}
    failures: dict[str, str] = {}
    for round_ in range(settings.rounds):
        with ExitStack() as stack:
            servers = start_servers(stack, configuration, settings, failures)
            for variant in rotated(VARIANTS, round_):
                if variant not in servers:
                    continue
                label = f"[{configuration} round {round_ + 1}/{settings.rounds}] {variant:<18}"
                try:
                    sample = measure(servers[variant], round_, settings)
                except MEASUREMENT_ERRORS as error:
                    failures[variant] = str(error) or type(error).__name__
                    print(f"{label} FAILED: {failures[variant]}", flush=True)
                    continue
                samples[variant].append(sample)
                print(
                    f"{label} {sample.rps:9,.0f} req/s  p99 {sample.p99_ms:6.2f} ms  "
                    f"{sample.cpu_us_per_request:6.0f} CPU µs/req",
                    flush=True,
                )
    return samples, failures


# --- summaries -----------------------------------------------------------------------------


def summarise_variant(
    samples: list[Sample], baseline: list[Sample], failure: str | None
) -> dict[str, Any]:
    if not samples:
        return {"skipped": failure or "not measured"}
    baseline_by_round = {sample.round: sample.rps for sample in baseline}
    paired = [sample for sample in samples if sample.round in baseline_by_round]
    summary: dict[str, Any] = {
        "rps": median([sample.rps for sample in samples]),
        "p50_ms": median([sample.p50_ms for sample in samples]),
        "p99_ms": median([sample.p99_ms for sample in samples]),
        "cpu_us_per_request": median([sample.cpu_us_per_request for sample in samples]),
        "cpu_us_per_request_interval": mean_interval(
            [sample.cpu_us_per_request for sample in samples]
        ),
        "ratio_to_bare": paired_ratios(
            [baseline_by_round[sample.round] for sample in paired],
            [sample.rps for sample in paired],
        ),
        "rounds": [asdict(sample) for sample in samples],
    }
    if failure:
        summary["error"] = failure
    return summary


def summarise_configuration(
    configuration: str, samples: dict[str, list[Sample]], failures: dict[str, str]
) -> dict[str, Any]:
    variants = {
        variant: summarise_variant(samples[variant], samples["bare"], failures.get(variant))
        for variant in VARIANTS
    }
    folio_ratio = variants["folio"].get("ratio_to_bare", {}).get("median", float("nan"))
    cpu = {
        variant: {sample.round: sample.cpu_us_per_request for sample in samples[variant]}
        for variant in ("empty-middleware", "folio")
    }
    return {
        "server": "uvicorn " + " ".join(CONFIGURATIONS[configuration]),
        "variants": variants,
        # Paired by round: both ran in the same round, a few seconds apart.
        "folio_minus_empty_cpu_us": differences(cpu["empty-middleware"], cpu["folio"]),
        "folio_target": {
            "ratio_to_bare_at_least": FOLIO_TARGET,
            "met": folio_ratio >= FOLIO_TARGET,
        },
    }


def method_text(settings: Settings) -> str:
    return (
        f"One uvicorn worker pinned to CPU {SERVER_CPU}, loaded by `wrk -t1 -c{CONNECTIONS}` "
        f"pinned to CPU {CLIENT_CPU} with GET {TARGET_PATH} (a small JSON answer, no database) "
        f"for {settings.duration} s per run. {settings.rounds} round(s); each starts a fresh "
        f"server per variant, warms each up for {settings.warmup} s, then runs every variant "
        "once, in an order rotated per round (the servers not being measured sit idle). "
        "Figures are medians over rounds; the ratio to bare pairs each run with the bare "
        "app's run of the same round. CPU µs/request is the server process's user+system time "
        "during the measured run over the requests wrk completed. Every variant must first "
        "answer each route like the bare app and, if instrumented, show the route in /metrics. "
        "minimal: a hand-written pure ASGI middleware that wraps send for the status and "
        "records one prometheus_client counter and histogram (the floor for any middleware "
        "that reads the status); "
        "folio: ServiceMetrics with every http_* family, installed with its loop-lag sampler; "
        "instrumentator: defaults; starlette-exporter: defaults; opentelemetry: "
        "FastAPIInstrumentor with a PrometheusMetricReader meter provider and no tracer "
        "provider (metrics only)."
    )


def print_table(configurations: dict[str, Any]) -> None:
    header = (
        f"{'variant':<20}{'req/s':>9}  {'ratio to bare (min-max)':<24}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'CPU µs/req':>12}"
    )
    for name, configuration in configurations.items():
        met = "met" if configuration["folio_target"]["met"] else "NOT met"
        print(f"\nuvicorn {name} ({configuration['server']}); folio ≥ {FOLIO_TARGET}: {met}")
        print(header)
        for variant, row in configuration["variants"].items():
            if "skipped" in row:
                print(f"{variant:<20}skipped: {row['skipped']}")
                continue
            ratio = row["ratio_to_bare"]
            spread = f"{ratio['median']:.3f} ({ratio['min']:.3f}-{ratio['max']:.3f})"
            print(
                f"{variant:<20}{row['rps']:>9,.0f}  {spread:<24}{row['p50_ms']:>8.2f}"
                f"{row['p99_ms']:>8.2f}{row['cpu_us_per_request']:>12.0f}"
            )
        difference = plus_minus(configuration["folio_minus_empty_cpu_us"], 1)
        print(f"folio minus empty-middleware: {difference} CPU µs/request")


# --- entry point ---------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s runs: a smoke run")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def missing_tools() -> list[str]:
    return [tool for tool in ("wrk", "taskset") if shutil.which(tool) is None]


def _exit_on_sigterm(signum: int, _: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds the finally blocks that stop the servers


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    missing = missing_tools()
    if missing:
        print(
            f"bench.overhead: {' and '.join(missing)} not found on PATH; "
            "install Debian's wrk and util-linux packages",
            file=sys.stderr,
        )
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = Settings(rounds=1, duration=1, warmup=1) if arguments.quick else Settings(12, 3, 1)
    started = time.monotonic()
    configurations = {
        name: summarise_configuration(name, *run_configuration(name, settings))
        for name in CONFIGURATIONS
    }
    from bench.middleware_cost import measure_or_skip  # folio-api's app: imported only here

    in_process = measure_or_skip(arguments.quick)
    from bench import instructions

    counted = instructions.measure_or_skip(arguments.quick)
    elapsed = time.monotonic() - started
    path = write_results(
        "overhead",
        {
            "quick": arguments.quick,
            "settings": asdict(settings) | {"connections": CONNECTIONS, "path": TARGET_PATH},
            "elapsed_seconds": round(elapsed, 1),
            "configurations": configurations,
            "in_process": in_process,
            "instructions": counted,
            "method": method_text(settings),
            "commands": example_commands(settings),
            "versions": versions(*PACKAGES),
        },
        arguments.results_dir,
    )
    print_table(configurations)
    print(f"\n{elapsed:.0f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
