"""docs/benchmarks.md's section on folio against the empty middleware, from overhead.json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench import instructions
from bench.intervals import plus_minus
from bench.middleware_cost import AIM_US, PROFILE_ROWS, method_text


def report_lines(overhead: dict[str, Any] | None) -> list[str]:
    """docs/benchmarks.md's section on folio against the empty middleware, from overhead.json."""
    title = "## folio against the empty middleware"
    if overhead is None:
        return [title, "", "Not run.", ""]
    lines = [title, "", *_served_lines(overhead)]
    in_process = overhead.get("in_process")
    if in_process is None:
        return [*lines, "In-process measurement: not run.", ""]
    if "skipped" in in_process:
        return [*lines, f"In-process measurement: skipped ({in_process['skipped']}).", ""]
    lines += [
        "### The middleware alone, in process",
        "",
        method_text(in_process["settings"]),
        "",
        "| variant | CPU µs/request (median [95% interval]) |",
        "| --- | ---: |",
    ]
    for variant, interval in in_process["variants"].items():
        lines.append(f"| {variant} | {plus_minus(interval, 2)} |")
    folio = in_process["folio_minus_empty_us"]
    lines += [
        f"| folio minus empty-middleware | {plus_minus(folio, 2)} |",
        f"| empty-middleware minus none | {plus_minus(in_process['empty_minus_none_us'], 2)} |",
        "",
        f"Aim: folio within {AIM_US:g} µs of the empty middleware: {verdict_text(verdict(folio))}.",
        "",
        *_profile_lines(in_process["profile"]),
        *_instruction_lines(overhead.get("instructions"), in_process),
    ]
    return lines


def _instruction_lines(counted: dict[str, Any] | None, in_process: dict[str, Any]) -> list[str]:
    title = "### Instructions per request, in process"
    if not counted or "skipped" in counted:
        reason = counted["skipped"] if counted else "not run"
        return [title, "", f"Not counted: {reason}.", ""]
    per_request = counted["instructions_per_request"]
    lines = [
        title,
        "",
        instructions.method_text(counted["calls"]),
        "",
        "| variant | instructions/request |",
        "| --- | ---: |",
        *(f"| {variant} | {number:,.0f} |" for variant, number in per_request.items()),
        "",
    ]
    if "folio_minus_empty" not in counted:
        return lines
    rate = _rate(counted, in_process)
    folio = counted["folio_minus_empty"]
    lines += [
        f"folio minus empty-middleware: **{folio:,.0f} instructions**, about "
        f"{folio / rate:.1f} µs at this run's in-process rate of {rate:,.0f} instructions/µs "
        f"({plus_minus(_micros(counted, in_process), 1)} µs over the interval of folio's "
        f"time; the {AIM_US:g} µs aim is about {AIM_US * rate:,.0f} instructions).",
        "",
        "| part of folio's cost | instructions/request | share |",
        "| --- | ---: | ---: |",
    ]
    whole = counted.get("app_folio_minus_empty")
    if whole is not None:
        empty_app = per_request[instructions.APP_PREFIX + "empty-middleware"]
        lines += [
            f"In the served runs' own FastAPI app, called the same way, folio adds {whole:,.0f} "
            f"instructions to the empty middleware's {empty_app:,.0f} "
            f"({whole / empty_app:.1%}), the metrics route's place in the routing included.",
            "",
        ]
    parts = counted["parts"]
    rest = "the rest: wrapping send, the route's children, the gauge, counter and histograms"
    for part, number in [*parts.items(), (rest, folio - sum(parts.values()))]:
        lines.append(f"| {part} | {number:,.0f} | {number / folio:.0%} |")
    return [*lines, "", *_step_lines(counted.get("steps", {}), folio)]


def _step_lines(steps: dict[str, float], folio: float) -> list[str]:
    if not steps:
        return []
    lines = [
        "Each step of folio's request, counted alone in a loop of its own (the loop's own "
        "cost taken off). What they do not add up to is the ASGI plumbing: the middleware's "
        "own coroutine, its try blocks and the calls between the steps.",
        "",
        "| step | instructions | share of folio minus empty |",
        "| --- | ---: | ---: |",
    ]
    for step, number in steps.items():
        lines.append(f"| {step} | {number:,.0f} | {number / folio:.0%} |")
    return [*lines, ""]


def _served_lines(overhead: dict[str, Any]) -> list[str]:
    lines = [
        "Served (bench.overhead's wrk runs): CPU µs/request, median over rounds, in brackets "
        "the 95% t-interval of the mean; folio minus empty-middleware is paired round by round.",
        "",
        f"| uvicorn | empty-middleware | folio | folio minus empty | within {AIM_US:g} µs |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for name, configuration in overhead["configurations"].items():
        variants = configuration["variants"]
        difference = configuration.get("folio_minus_empty_cpu_us")
        if difference is None or "skipped" in variants["folio"]:
            lines.append(f"| `{name}` | not measured | | | |")
            continue
        empty = variants["empty-middleware"]["cpu_us_per_request_interval"]
        folio = variants["folio"]["cpu_us_per_request_interval"]
        met = verdict_text(verdict(difference))
        lines.append(
            f"| `{name}` | {plus_minus(empty, 1)} | {plus_minus(folio, 1)} | "
            f"{plus_minus(difference, 1)} | {met} |"
        )
    return [*lines, ""]


def _profile_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "Where folio's own time goes (cProfile of the in-process run; the profiler inflates "
        "every call, so read the shares, not the sums):",
        "",
        "| function | calls/request | own µs/request | share of folio_metrics' own time |",
        "| --- | ---: | ---: | ---: |",
    ]
    total = sum(row["own_us_per_request"] for row in rows) or 1.0
    for row in rows[:PROFILE_ROWS]:
        lines.append(
            f"| `{row['function']}` | {row['calls_per_request']:.1f} | "
            f"{row['own_us_per_request']:.2f} | {row['own_us_per_request'] / total:.0%} |"
        )
    return [*lines, ""]


def target_rows(overhead: dict[str, Any] | None) -> list[tuple[str, str, str, bool | None]]:
    """The 5 µs aim for report.py's table of targets: what, aim, this run, met (None when
    the interval holds the aim)."""
    rows: list[tuple[str, str, str, bool | None]] = []
    for name, configuration in (overhead or {}).get("configurations", {}).items():
        difference = configuration.get("folio_minus_empty_cpu_us")
        if difference is not None and difference["n"]:
            rows.append(_target(f"folio minus empty middleware, uvicorn `{name}`", difference))
    in_process = (overhead or {}).get("in_process", {})
    if "folio_minus_empty_us" in in_process:
        rows.append(
            _target("folio minus empty middleware, in process", in_process["folio_minus_empty_us"])
        )
    counted = (overhead or {}).get("instructions", {})
    if "folio_minus_empty" in counted and "variants" in in_process:
        micros = _micros(counted, in_process)
        value = f"{counted['folio_minus_empty']:,.0f} instructions, {plus_minus(micros, 1)} µs"
        rows.append(
            ("folio minus empty middleware, counted", f"<= {AIM_US:g} µs", value, verdict(micros))
        )
    return rows


def _rate(counted: dict[str, Any], in_process: dict[str, Any]) -> float:
    """Instructions per µs in this run: folio's count over its in-process time."""
    folio_us: float = in_process["variants"]["folio"]["median"]
    instructions_per_request: float = counted["instructions_per_request"]["folio"]
    return instructions_per_request / folio_us


def _micros(counted: dict[str, Any], in_process: dict[str, Any]) -> dict[str, float]:
    """folio's counted difference in µs at this run's rate, over the rate's own interval."""
    folio = in_process["variants"]["folio"]
    per_us = counted["instructions_per_request"]["folio"]
    difference: float = counted["folio_minus_empty"]
    return {
        "median": difference * folio["median"] / per_us,
        "low": difference * folio["low"] / per_us,
        "high": difference * folio["high"] / per_us,
        "n": folio["n"],
    }


def verdict(interval: dict[str, float]) -> bool | None:
    """Met when the whole interval is within the aim, not met when none of it is, else None."""
    if interval["high"] <= AIM_US:
        return True
    if interval["low"] > AIM_US:
        return False
    return None


def verdict_text(met: bool | None) -> str:
    """yes, no, or unresolved: the interval holds the aim, so this run cannot tell."""
    return {True: "yes", False: "no", None: "unresolved"}[met]


def _target(what: str, difference: dict[str, float]) -> tuple[str, str, str, bool | None]:
    value = f"{plus_minus(difference, 1)} CPU µs/request"
    return what, f"<= {AIM_US:g} µs", value, verdict(difference)
