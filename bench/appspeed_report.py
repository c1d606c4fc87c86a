"""bench.appspeed's rows, its summaries with intervals, and its section of docs/benchmarks.md."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.intervals import mean_interval, plus_minus, ratios

TITLE = "## App speed"
BACKENDS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@dataclass(frozen=True)
class Row:
    """One request of the table: which service answers it, and its aims."""

    id: str
    service: str
    request: str
    path: str
    cheapest: str  # the row id of the same server's cheapest request
    aim: float | None = None  # CPU per request at most this many times the cheapest's
    per_core: int | None = None  # at least this many requests per CPU-second of the server

    def url(self, slug: str) -> str:
        """The path wrk requests, with a published project's slug."""
        return self.path.replace("{slug}", slug)


ROWS = (
    Row("api-health", "api", "folio-api `GET /api/health`", "/api/health", "api-health"),
    Row(
        *("api-project", "api", "folio-api `GET /api/projects/{slug}`", "/api/projects/{slug}"),
        *("api-health", 2.0, 1000),
    ),
    Row(
        *("api-projects", "api", "folio-api `GET /api/projects`", "/api/projects"),
        *("api-health", 3.0, 1000),
    ),
    Row("web-about", "web", "folio-web `GET /about`", "/about", "web-about"),
    Row("web-home", "web", "folio-web `GET /`", "/", "web-about", 2.0, 700),
    Row(
        *("web-project", "web", "folio-web `GET /projects/{slug}`", "/projects/{slug}"),
        *("web-about", 2.0, 700),
    ),
)


def _series(samples: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [sample[key] for sample in samples if key in sample]


def _by_round(samples: Sequence[dict[str, Any]]) -> dict[int, float]:
    return {sample["round"]: sample["cpu_us_per_request"] for sample in samples}


def summarise(samples: dict[str, list[dict[str, Any]]], failure: str | None) -> dict[str, Any]:
    """Each row's medians and intervals, and its CPU ratio to the cheapest row, paired by round."""
    if not any(samples.values()):
        return {"skipped": failure or "not measured"}
    rows: dict[str, Any] = {}
    for row in ROWS:
        own = samples[row.id]
        if not own:
            rows[row.id] = {"skipped": failure or "not measured"}
            continue
        summary: dict[str, Any] = {
            "rps": mean_interval(_series(own, "rps")),
            "p99_ms": mean_interval(_series(own, "p99_ms")),
            "cpu_us_per_request": mean_interval(_series(own, "cpu_us_per_request")),
        }
        if row.service == "web":
            summary["api_cpu_us_per_request"] = mean_interval(
                _series(own, "api_cpu_us_per_request")
            )
        ratio = ratios(_by_round(samples[row.cheapest]), _by_round(own))
        summary["ratio_to_cheapest"] = ratio
        summary["per_core"] = 1e6 / summary["cpu_us_per_request"]["median"]
        if row.aim is not None and row.per_core is not None:
            summary["aim"] = {"ratio_at_most": row.aim, "per_core_at_least": row.per_core}
            summary["met"] = bool(
                ratio["median"] <= row.aim and summary["per_core"] >= row.per_core
            )
        summary["rounds"] = own
        rows[row.id] = summary
    result: dict[str, Any] = {"rows": rows}
    if failure:
        result["error"] = failure
    return result


def method_text(result: dict[str, Any]) -> str:
    settings = result["settings"]
    return (
        "`folio api` and `folio web` as shipped (one worker each, FOLIO_LOG_LEVEL=warning, so "
        "no access log), both pinned to CPU 0 with `taskset -c 0`, on a database made for the "
        "run by `folio db seed` (which applies the migrations first); folio-web reads that "
        "folio-api. "
        f"`wrk -t1 -c{settings['connections']} --latency`, pinned to CPU 1, loads each request "
        f"for {settings['duration']} s per run; {settings['rounds']} round(s), the rows (and "
        "the codes, with a before) in an order rotated per round, after a warm-up of every "
        "row. CPU µs/request is the server process's user+system time (/proc/PID/stat) over "
        "the requests wrk completed; for folio-web's pages, folio-api's CPU over the same "
        "requests is shown after the + (the two share CPU 0, so a page's req/s is bounded by "
        "their sum); req/s per core is 1,000,000 over that CPU figure (the "
        "server's own). Figures are medians over rounds, in brackets the 95% "
        "t-interval of the mean; the ratio divides each run's CPU by the same round's run of "
        "the server's cheapest request (/api/health, /about) on the same code. PostgreSQL runs "
        "unpinned, so its own CPU is not counted and it shares both cores."
    )


def report_lines(result: dict[str, Any] | None) -> list[str]:
    """docs/benchmarks.md's section on folio's own speed, from appspeed.json."""
    if result is None:
        return [TITLE, "", "Not run.", ""]
    commits = result["commits"]
    lines = [TITLE, "", method_text(result), ""]
    if "before" in commits:
        lines += [f"Before: commit {commits['before']}; after: {commits['after']}.", ""]
    for backend, label in BACKENDS.items():
        data = result["backends"].get(backend, {"skipped": "not run"})
        lines += [f"### {label}", ""]
        if "skipped" in data:
            lines += [f"Skipped: {data['skipped']}.", ""]
            continue
        lines += _table(data, [code for code in ("before", "after") if code in data])
    lines += ["Commands:", "", "```sh", *result.get("commands", []), "```", ""]
    listed = ", ".join(f"{name} {version}" for name, version in result["versions"].items())
    return [*lines, f"Versions: {listed}.", ""]


def _table(data: dict[str, Any], codes: list[str]) -> list[str]:
    columns = ["req/s", "p99 ms", "CPU µs/request", "req/s per core", "ratio to cheapest"]
    header = [f"{c} {code}" if len(codes) > 1 else c for c in columns for code in codes]
    notes = [f"{code}: {data[code]['error']}." for code in codes if "error" in data[code]]
    lines = [*notes, *([""] if notes else [])]
    lines.append("| " + " | ".join(["request", *header, "aim", "met"]) + " |")
    lines.append("| --- |" + " ---: |" * len(header) + " --- | --- |")
    for row in ROWS:
        cells = {code: data[code].get("rows", {}).get(row.id, {}) for code in codes}
        line = [row.request]
        for column in ("rps", "p99_ms", "cpu_us_per_request", "per_core", "ratio_to_cheapest"):
            line += [_cell(cells[code], column) for code in codes]
        after = cells[codes[-1]]
        aim = f"<= {row.aim:g}x, >= {row.per_core:,}/core" if row.aim and row.per_core else "-"
        met = ("yes" if after["met"] else "no") if "met" in after else "-"
        lines.append("| " + " | ".join([*line, aim, met]) + " |")
    return [*lines, ""]


def _cell(summary: dict[str, Any], column: str) -> str:
    """The median; the interval too for the CPU figures, the ones the aims are about."""
    if column not in summary:
        return "-"
    value = summary[column]
    if column == "per_core":
        return f"{value:,.0f}"
    if column in ("rps", "p99_ms"):
        return f"{value['median']:,.{0 if column == 'rps' else 1}f}"
    if column == "ratio_to_cheapest":
        return plus_minus(value, 2)
    text = plus_minus(value, 0)
    api = summary.get("api_cpu_us_per_request")
    if api is not None and not math.isnan(api["median"]):
        text += f" + {api['median']:,.0f}"
    return text


def target_rows(result: dict[str, Any] | None) -> list[tuple[str, str, str, bool]]:
    """The app-speed aims for report.py's table of targets: what, aim, this run, met."""
    rows: list[tuple[str, str, str, bool]] = []
    for backend, label in BACKENDS.items():
        after = (result or {}).get("backends", {}).get(backend, {}).get("after", {})
        for row in ROWS:
            cell = after.get("rows", {}).get(row.id, {})
            if "met" in cell:
                value = f"{cell['ratio_to_cheapest']['median']:.2f}x, {cell['per_core']:,.0f}/core"
                aim = f"<= {row.aim:g}x, >= {row.per_core:,}/core"
                rows.append((f"{row.request} on {label}", aim, value, cell["met"]))
    return rows
