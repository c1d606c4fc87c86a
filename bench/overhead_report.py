"""docs/benchmarks.md's section on folio against the empty middleware, from overhead.json."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
        f"Aim: folio within {AIM_US:g} µs of the empty middleware: "
        f"{'met' if folio['median'] <= AIM_US else 'not met'}.",
        "",
        *_profile_lines(in_process["profile"]),
    ]
    return lines


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
        met = "yes" if difference["median"] <= AIM_US else "no"
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


def target_rows(overhead: dict[str, Any] | None) -> list[tuple[str, str, str, bool]]:
    """The 5 µs aim for report.py's table of targets: what, aim, this run, met."""
    rows: list[tuple[str, str, str, bool]] = []
    for name, configuration in (overhead or {}).get("configurations", {}).items():
        difference = configuration.get("folio_minus_empty_cpu_us")
        if difference is not None and difference["n"]:
            rows.append(_target(f"folio minus empty middleware, uvicorn `{name}`", difference))
    in_process = (overhead or {}).get("in_process", {})
    if "folio_minus_empty_us" in in_process:
        rows.append(
            _target("folio minus empty middleware, in process", in_process["folio_minus_empty_us"])
        )
    return rows


def _target(what: str, difference: dict[str, float]) -> tuple[str, str, str, bool]:
    value = f"{plus_minus(difference, 1)} CPU µs/request"
    return what, f"<= {AIM_US:g} µs", value, difference["median"] <= AIM_US
