"""`python -m bench.instructions`: instructions per request of folio's middleware, in process.

Seconds on a shared machine wander by more than the few microseconds the aim is about.
Instructions, counted by valgrind's callgrind, repeat exactly for the same code and input,
so the difference between two variants is resolved to a few instructions. Each variant of
bench.middleware_cost runs under callgrind, which counts only inside the timed batch (a
three-line C helper, built here with ``cc``, switches counting on and off). The parts of
folio's cost are found by taking one away at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp

from bench.common import ROOT
from bench.instruction_items import EMPTY_LOOP, STEPS

WARM_UP_CALLS = 300
CALLS = 2000
QUICK_CALLS = 200
# What each part of folio's cost is found by: the variant without it.
PARTS = {
    "folio, no per-request query count": "the per-request query count",
    "folio, no exemplars": "reading traceparent for exemplars",
    "folio, no connection tracker": "asking the connection tracker at the last byte",
    "folio, a fixed route template": "resolving the route template",
}
# bench.overhead's served FastAPI apps, called ASGI-direct: what the wrk runs compare.
APP_PREFIX = "whole app, "
APP_VARIANTS = tuple(APP_PREFIX + name for name in ("bare", "empty-middleware", "folio"))
VARIANTS = ("none", "empty-middleware", "folio", *PARTS, *APP_VARIANTS)
QUICK_VARIANTS = ("none", "empty-middleware")
HELPER_SOURCE = """\
#include <valgrind/callgrind.h>
void count_from_here(void) {
  CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; CALLGRIND_TOGGLE_COLLECT;
}
void count_to_here(void) {
  CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS; CALLGRIND_STOP_INSTRUMENTATION;
}
"""
_TOTAL = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)


def variant_app(variant: str) -> ASGIApp:
    """The ASGI app that ``variant`` names: bench.middleware_cost's, or folio without a part."""
    from bench.middleware_cost import folio_api_middleware, request_scope, trivial_app
    from bench.overhead_apps import PassThroughMiddleware

    if variant.startswith(APP_PREFIX):
        from bench.overhead_apps import create_app

        return create_app(variant.removeprefix(APP_PREFIX))
    if variant == "none":
        return trivial_app
    if variant == "empty-middleware":
        return PassThroughMiddleware(trivial_app)
    folio = folio_api_middleware(trivial_app)
    if variant == "folio, no per-request query count":
        folio.queries = None
    elif variant == "folio, no exemplars":
        folio.exemplars = False
    elif variant == "folio, no connection tracker":
        folio.peers = None
    elif variant == "folio, a fixed route template":
        template = folio.resolver(request_scope())
        folio.resolver = lambda _scope: template
    elif variant != "folio":
        raise ValueError(f"unknown variant {variant!r}; choose from {list(VARIANTS)}")
    return folio


def variant_scope(variant: str) -> dict[str, Any]:
    """The request each call of ``variant`` gets: the served apps' path for a whole app."""
    from bench.middleware_cost import request_scope
    from bench.overhead import TARGET_PATH

    scope = request_scope()
    if variant.startswith(APP_PREFIX):
        scope |= {"path": TARGET_PATH, "raw_path": TARGET_PATH.encode()}
    return scope


def missing_tools() -> list[str]:
    """The programs this part needs that are not on PATH."""
    return [tool for tool in ("valgrind", "cc") if shutil.which(tool) is None]


def build_helper(directory: Path) -> Path:
    """The C helper that switches callgrind's counting on and off, built in ``directory``."""
    source = directory / "count_marks.c"
    source.write_text(HELPER_SOURCE)
    library = directory / "count_marks.so"
    subprocess.run(
        ["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
    )
    return library


def count(
    variants: Sequence[str], calls: int, *, steps: bool = False
) -> tuple[dict[str, float], dict[str, float]]:
    """Instructions per call of each variant and, with ``steps``, of each of folio's steps
    (instruction_items), counted under callgrind in one process."""
    with tempfile.TemporaryDirectory(prefix="folio-instructions-") as name:
        directory = Path(name)
        helper = build_helper(directory)
        command = [
            "valgrind",
            "--tool=callgrind",
            "--collect-atstart=no",
            # Imports and warm-up run uninstrumented, near full speed: only batches count.
            "--instr-atstart=no",
            f"--callgrind-out-file={directory}/counts",
            sys.executable,
            "-m",
            "bench.instructions",
            "--worker",
            str(helper),
            "--calls",
            str(calls),
            *(["--steps"] if steps else []),
            *variants,
        ]
        # A fixed hash seed: dict and set layouts, so the counts, repeat from run to run.
        environment = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            command, cwd=ROOT, env=environment, capture_output=True, check=False, timeout=900
        )
        if done.returncode:
            raise RuntimeError(f"callgrind run failed: {done.stderr.decode()[-2000:]}")
        dumps = sorted(directory.glob("counts.*"), key=lambda path: int(path.suffix[1:]))
        labels = [*variants, *((EMPTY_LOOP, *(label for label, _ in STEPS)) if steps else ())]
        if len(dumps) != len(labels):
            raise RuntimeError(f"expected {len(labels)} counts, callgrind wrote {len(dumps)}")
        per_call = {
            label: _total(path.read_bytes()) / calls
            for label, path in zip(labels, dumps, strict=True)
        }
    loop = per_call.pop(EMPTY_LOOP, 0.0)
    step_counts = {label: per_call.pop(label) - loop for label, _ in STEPS} if steps else {}
    return per_call, step_counts


def _total(dump: bytes) -> int:
    found = _TOTAL.search(dump)
    if found is None:
        raise RuntimeError("a callgrind dump without a total")
    return int(found.group(1))


def summarise(per_call: dict[str, float]) -> dict[str, Any]:
    """The counts, folio's difference to the empty middleware, and what each part costs."""
    summary: dict[str, Any] = {"instructions_per_request": per_call}
    empty = per_call.get("empty-middleware")
    if empty is not None and "none" in per_call:
        summary["empty_minus_none"] = empty - per_call["none"]
    if empty is not None and "folio" in per_call:
        folio = per_call["folio"]
        summary["folio_minus_empty"] = folio - empty
        summary["parts"] = {
            part: folio - per_call[variant]
            for variant, part in PARTS.items()
            if variant in per_call
        }
    apps = [per_call.get(APP_PREFIX + name) for name in ("empty-middleware", "folio")]
    if None not in apps:
        summary["app_folio_minus_empty"] = apps[1] - apps[0]  # type: ignore[operator]
    return summary


def measure_or_skip(quick: bool, log: Callable[[str], None] = print) -> dict[str, Any]:
    """``count`` and ``summarise`` for the quick or full variants; a failure is reported."""
    missing = missing_tools()
    if missing:
        reason = f"{' and '.join(missing)} not found on PATH; install Debian's valgrind and gcc"
        log(f"instructions: skipped: {reason}")
        return {"skipped": reason}
    variants, calls = (QUICK_VARIANTS, QUICK_CALLS) if quick else (VARIANTS, CALLS)
    try:
        per_call, steps = count(variants, calls, steps=not quick)
    except (RuntimeError, OSError, subprocess.SubprocessError) as error:
        log(f"instructions: skipped: {error}")
        return {"skipped": str(error)}
    summary = {**summarise(per_call), "steps": steps}
    log(
        "instructions per request: "
        + ", ".join(f"{v} {n:,.0f}" for v, n in summary["instructions_per_request"].items())
    )
    return {"calls": calls, **summary}


def method_text(calls: int) -> str:
    return (
        "Instructions per request, counted by valgrind's callgrind over "
        f"{calls:,} calls of each variant after {WARM_UP_CALLS} to warm up, in one process "
        "with PYTHONHASHSEED=0: the same ASGI-direct calls as above, counted only inside "
        "the batch. Each part of folio's cost is folio minus folio without that part."
    )


async def _run_batches(helper: Path, calls: int, variants: Sequence[str], steps: bool) -> None:
    from bench.instruction_items import step_loops
    from bench.middleware_cost import batch, request_scope

    marks = ctypes.CDLL(str(helper))
    for variant in variants:
        app = variant_app(variant)
        scope = variant_scope(variant)
        await batch(app, WARM_UP_CALLS, scope)
        marks.count_from_here()
        await batch(app, calls, scope)
        marks.count_to_here()
    if not steps:
        return
    folio: Any = variant_app("folio")
    scope = request_scope()
    await batch(folio, WARM_UP_CALLS, scope)
    for run in step_loops(folio, scope).values():
        run(WARM_UP_CALLS)
        marks.count_from_here()
        run(calls)
        marks.count_to_here()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="none and empty-middleware only")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=CALLS, help=argparse.SUPPRESS)
    parser.add_argument("--steps", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("variants", nargs="*", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker is not None:  # inside valgrind: run the batches, nothing else
        batches = _run_batches(
            arguments.worker, arguments.calls, arguments.variants, arguments.steps
        )
        asyncio.run(batches)
        return 0
    result = measure_or_skip(arguments.quick)
    return 1 if "skipped" in result else 0


if __name__ == "__main__":
    raise SystemExit(main())
