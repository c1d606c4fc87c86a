"""`python -m bench.appspeed [--quick]`: folio-api's and folio-web's own speed, as shipped.

`folio api` and `folio web` (one worker each, log level warning) on a freshly migrated and
seeded database, both pinned to one core; wrk loads each request from the other core. CPU
per request is each server process's user+system time over the requests wrk completed.
Rows are interleaved and rotated per round, and with ``--before COMMIT`` that commit's code
(extracted read-only by ``git archive``) runs beside the working tree's, round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.appspeed_report import ROWS, Row, report_lines, summarise
from bench.appspeed_stack import (
    Stack,
    environment,
    extract,
    fetch,
    fresh_database,
    imported_from,
    prepare,
    running_stack,
    service_command,
)
from bench.common import RESULTS_DIR, versions, write_results
from bench.overhead import (
    CLIENT_CPU,
    HOST,
    MEASUREMENT_ERRORS,
    VariantFailed,
    _exit_on_sigterm,
    cpu_seconds,
    missing_tools,
    parse_wrk,
    rotated,
    run_wrk,
)

__all__ = ["main", "report_lines"]

CONNECTIONS = 16
POSTGRES_ENV = "FOLIO_TEST_POSTGRES_URL"
PACKAGES = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "aiosqlite", "asyncpg", "httpx")


@dataclass(frozen=True)
class Settings:
    rounds: int
    duration: int
    warmup: int  # seconds of wrk per row and stack before the rounds; 0: a few requests


FULL = Settings(rounds=6, duration=3, warmup=1)
QUICK = Settings(rounds=1, duration=1, warmup=0)


def wrk_command(port: int, path: str, duration: int) -> list[str]:
    return [
        *("taskset", "-c", CLIENT_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s"),
        *("--latency", f"http://{HOST}:{port}{path}"),
    ]


def warm_up(stack: Stack, settings: Settings) -> None:
    for row in ROWS:
        server = stack.api if row.service == "api" else stack.web
        if settings.warmup:
            run_wrk(wrk_command(server.port, row.url(stack.slug), settings.warmup), settings.warmup)
        else:
            for _ in range(CONNECTIONS):
                fetch(server.port, "GET", row.url(stack.slug))


def measure(stack: Stack, row: Row, round_: int, duration: int) -> dict[str, Any]:
    """One wrk run of ``row``: req/s, p99 and each process's CPU µs per request answered."""
    server = stack.api if row.service == "api" else stack.web
    processes = {"cpu": server, "api_cpu": stack.api} if row.service == "web" else {"cpu": server}
    before = {name: cpu_seconds(p.process.pid) for name, p in processes.items()}
    output = run_wrk(wrk_command(server.port, row.url(stack.slug), duration), duration)
    after = {name: cpu_seconds(p.process.pid) for name, p in processes.items()}
    for process in (stack.api, stack.web):
        if process.process.poll() is not None:
            raise VariantFailed(f"{process.variant} died under load: {process.error_tail()}")
    result = parse_wrk(output)
    if result.non_2xx or not result.requests:
        raise VariantFailed(f"{result.non_2xx} non-2xx of {result.requests} responses")
    sample = {"round": round_, "rps": result.rps, "p99_ms": result.p99_ms}
    sample["requests"] = result.requests
    for name in processes:
        sample[f"{name}_us_per_request"] = (after[name] - before[name]) * 1e6 / result.requests
    return sample


# --- one backend ---------------------------------------------------------------------------


Samples = dict[str, dict[str, list[dict[str, Any]]]]  # code -> row id -> samples


def run_backend(
    backend: str,
    codes: dict[str, Path | None],
    settings: Settings,
    work: Path,
    postgres: str | None,
) -> dict[str, Any]:
    """Every round of every row for every code on ``backend``; a failing code is skipped."""
    samples: Samples = {code: {row.id: [] for row in ROWS} for code in codes}
    failures: dict[str, str] = {}
    imported: dict[str, dict[str, str]] = {}
    with ExitStack() as stack:
        stacks: dict[str, Stack] = {}
        for code, code_dir in codes.items():
            try:
                directory = Path(stack.enter_context(tempfile.TemporaryDirectory(dir=work)))
                url = stack.enter_context(fresh_database(backend, directory, postgres))
                code_settings = environment(code_dir, url)
                imported[code] = imported_from(code_settings, code_dir)
                prepare(code_settings)
                stacks[code] = stack.enter_context(running_stack(code, code_settings))
                warm_up(stacks[code], settings)
            except MEASUREMENT_ERRORS as error:
                failures[code] = str(error) or type(error).__name__
                print(f"[{backend}] {code}: FAILED to start: {failures[code]}", flush=True)
        for round_ in range(settings.rounds):
            for row in [ROWS[(i + round_) % len(ROWS)] for i in range(len(ROWS))]:
                for code in rotated(list(stacks), round_):
                    if code in failures:
                        continue
                    label = (
                        f"[{backend} {round_ + 1}/{settings.rounds}] {code:<6} {row.request:<38}"
                    )
                    try:
                        sample = measure(stacks[code], row, round_, settings.duration)
                    except MEASUREMENT_ERRORS as error:
                        failures[code] = str(error) or type(error).__name__
                        print(f"{label} FAILED: {failures[code]}", flush=True)
                        continue
                    samples[code][row.id].append(sample)
                    api = sample.get("api_cpu_us_per_request")
                    print(
                        f"{label} {sample['rps']:8,.0f} req/s  p99 {sample['p99_ms']:6.2f} ms  "
                        f"{sample['cpu_us_per_request']:6.0f} CPU µs/req"
                        + (f" (+ folio-api {api:.0f})" if api is not None else ""),
                        flush=True,
                    )
    return {
        code: summarise(samples[code], failures.get(code)) | {"imported": imported.get(code, {})}
        for code in codes
    }


# --- entry point ---------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.appspeed", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="SQLite, 1 round of 1 s per row")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--before", metavar="COMMIT", help="also run this commit's code")
    parser.add_argument("--postgres-url", help=f"an admin URL (default: ${POSTGRES_ENV})")
    return parser.parse_args(argv)


def example_commands(settings: Settings) -> list[str]:
    """What one measurement runs, as it can be pasted into a shell from the repository root."""
    database = "FOLIO_DATABASE_URL=sqlite+aiosqlite:///bench-app.db FOLIO_LOG_LEVEL=warning"
    web_settings = f"FOLIO_API_URL=http://{HOST}:3001 FOLIO_LOG_LEVEL=warning"
    api, web = (
        shlex.join(service_command(name, port)) for name, port in [("api", 3001), ("web", 3000)]
    )
    return [
        f"{database} python -m folio db seed",
        f"{database} {api.replace(sys.executable, 'python')} &",
        f"{web_settings} {web.replace(sys.executable, 'python')} &",
        shlex.join(wrk_command(3001, "/api/projects/observability-stack", settings.duration)),
        shlex.join(wrk_command(3000, "/projects/observability-stack", settings.duration)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if missing := missing_tools():
        print(f"bench.appspeed: {' and '.join(missing)} not found on PATH", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    settings = QUICK if arguments.quick else FULL
    postgres = arguments.postgres_url or os.environ.get(POSTGRES_ENV) or None
    started = time.monotonic()
    backends: dict[str, Any] = {}
    commits = {"after": "working tree"}
    with tempfile.TemporaryDirectory(prefix="folio-appspeed-") as scratch:
        work = Path(scratch)
        codes: dict[str, Path | None] = {"after": None}
        if arguments.before and not arguments.quick:
            before_dir = work / "before"
            before_dir.mkdir()
            commits["before"] = extract(arguments.before, before_dir)
            codes = {"before": before_dir, "after": None}
        for backend in ("sqlite", "postgresql"):
            if backend == "postgresql" and (arguments.quick or postgres is None):
                reason = "quick run" if arguments.quick else f"no --postgres-url or ${POSTGRES_ENV}"
                backends[backend] = {"skipped": reason}
                continue
            backends[backend] = run_backend(backend, codes, settings, work, postgres)
    elapsed = time.monotonic() - started
    path = write_results(
        "appspeed",
        {
            "quick": arguments.quick,
            "settings": asdict(settings) | {"connections": CONNECTIONS},
            "elapsed_seconds": round(elapsed, 1),
            "commits": commits,
            "backends": backends,
            "commands": example_commands(settings),
            "versions": versions(*PACKAGES),
        },
        arguments.results_dir,
    )
    print("\n".join(report_lines(json.loads(path.read_text()))))
    print(f"\n{elapsed:.0f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
