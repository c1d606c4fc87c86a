"""docs/benchmarks.md from bench/results/*.json: folio beside its peers, with the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.accuracy import report_lines as accuracy_lines
from bench.appspeed import report_lines as appspeed_lines
from bench.appspeed_report import target_rows as appspeed_targets
from bench.native import report_lines as native_lines
from bench.overhead_apps import VARIANTS
from bench.overhead_report import report_lines as middleware_lines
from bench.overhead_report import target_rows as middleware_targets
from bench.overhead_report import verdict_text


def write_report(results: Path, destination: Path, *, quick: bool) -> Path:
    overhead = _load(results / "overhead.json")
    scrape = _load(results / "scrape.json")
    web = _load(results / "web.json")
    merge = _load(results / "merge.json")
    native = _load(results / "native.json")
    accuracy = _load(results / "accuracy.json")
    appspeed = _load(results / "appspeed.json")
    lines = ["# Benchmarks", ""]
    if quick:
        lines += [
            "> A `--quick` smoke run: too short to compare; run `make bench` for figures.",
            "",
        ]
    lines += _machine(overhead or scrape or web)
    lines += _targets(overhead, scrape, merge)
    lines += _app_targets(appspeed, overhead)
    lines += appspeed_lines(appspeed)
    lines += _overhead(overhead) + middleware_lines(overhead)
    lines += _scrape(scrape) + _merge(merge) + _web(web)
    lines += native_lines(native) if native is not None else []
    lines += accuracy_lines(accuracy)
    destination.write_text("\n".join(lines))
    return destination


def _app_targets(appspeed: dict[str, Any] | None, overhead: dict[str, Any] | None) -> list[str]:
    """The app-speed and middleware aims beside this run's figures, met or not."""
    rows = appspeed_targets(appspeed) + middleware_targets(overhead)
    if not rows:
        return []
    lines = ["## Against the app-speed aims", "", "| what | aim | this run | met |"]
    lines += ["|---|---|---|---|"]
    lines += [
        f"| {what} | {aim} | {value} | {verdict_text(met)} |" for what, aim, value, met in rows
    ]
    return [*lines, ""]


def _targets(
    overhead: dict[str, Any] | None, scrape: dict[str, Any] | None, merge: dict[str, Any] | None
) -> list[str]:
    """folio's aims beside this run's figures, met or not."""
    rows = []
    if overhead is not None:
        for name, configuration in overhead["configurations"].items():
            folio = configuration["variants"].get("folio", {})
            if "ratio_to_bare" in folio:
                ratio = folio["ratio_to_bare"]["median"]
                rows.append(
                    (
                        f"throughput ratio to bare, uvicorn `{name}`",
                        ">= 0.95",
                        f"{ratio:.3f}",
                        ratio >= 0.95,
                    )
                )
    if scrape is not None:
        largest = max(scrape["render"], key=int)
        speedup = scrape["render"][largest]["speedup_text"]["median"]
        rows.append(
            (
                f"render {int(largest):,} histogram series vs generate_latest",
                ">= 10x",
                f"{speedup:.0f}x",
                speedup >= 10,
            )
        )
        during = scrape.get("during_scrape", {}).get("folio")
        if during:
            rows.append(
                (
                    "p99 during back-to-back scrapes / p99 without",
                    "<= 2x",
                    f"{during['ratio']:.2f}x",
                    during["ratio"] <= 2,
                )
            )
    if merge is not None:
        result = merge["result"]
        rows.append(
            (
                f"scrape {result['workers']} workers x {result['series_per_worker']:,} series",
                f"<= {result['target_ms']:.0f} ms",
                f"{result['folio_ms']:.1f} ms",
                result["met"],
            )
        )
    if not rows:
        return []
    lines = ["## Against the targets", "", "| what | aim | this run | met |", "|---|---|---|---|"]
    lines += [
        f"| {what} | {aim} | {value} | {verdict_text(met)} |" for what, aim, value, met in rows
    ]
    return [*lines, ""]


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _machine(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return []
    machine = data["machine"]
    return [
        f"Measured on {machine['cpu']} ({machine['cores']} cores), Python {machine['python']}, "
        f"{machine['platform']}, commit {machine['commit']}, {machine['date']}. Regenerate "
        "with `make bench` (writes `bench/results/*.json` and this page).",
        "",
    ]


def _overhead(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return ["## Request overhead", "", "Not run.", ""]
    lines = ["## Request overhead", "", data.get("method", ""), ""]
    for name, configuration in data["configurations"].items():
        lines += [
            f"### uvicorn `{name}`",
            "",
            "| variant | req/s (median) | ratio to bare (median, min to max) | p50 ms | p99 ms "
            "| CPU µs/request |",
            "|---|---|---|---|---|---|",
        ]
        variants = configuration["variants"]
        for variant in sorted(variants, key=_overhead_rank):
            row = variants[variant]
            if "skipped" in row:
                lines.append(f"| {variant} | skipped: {row['skipped']} | | | | |")
                continue
            lines.append(
                f"| {variant} | {row['rps']:,.0f} | {_spread(row['ratio_to_bare'])} | "
                f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['cpu_us_per_request']:.0f} |"
            )
        lines.append("")
    lines += _commands(data) + _versions(data)
    return lines


def _overhead_rank(variant: str) -> int:
    return VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS)


def _scrape(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return ["## Scrape cost", "", "Not run.", ""]
    lines = [
        "## Scrape cost",
        "",
        "Render time of one scrape, median of interleaved repetitions.",
        "",
        "| series | format | folio ms | prometheus_client ms | speed-up |",
        "|---|---|---|---|---|",
    ]
    for series, row in data["render"].items():
        for label, folio, client, speedup in [
            ("text", "folio_text_ms", "client_text_ms", "speedup_text"),
            ("OpenMetrics", "folio_openmetrics_ms", "client_openmetrics_ms", "speedup_openmetrics"),
            ("text + gzip", "folio_text_gzip_ms", "client_text_gzip_ms", "speedup_text_gzip"),
            (
                "OpenMetrics + gzip",
                "folio_openmetrics_gzip_ms",
                "client_openmetrics_gzip_ms",
                "speedup_openmetrics_gzip",
            ),
        ]:
            if folio not in row:
                continue
            lines.append(
                f"| {int(series):,} | {label} | {row[folio]:.1f} | {row[client]:.1f} | "
                f"{row[speedup]['median']:.1f}x |"
            )
    lines += [
        "",
        "p99 of ordinary requests while /metrics is scraped in a loop:",
        "",
        "| library | p99 ms alone | p99 ms while scraping | ratio |",
        "|---|---|---|---|",
    ]
    for library, row in data.get("during_scrape", {}).items():
        lines.append(
            f"| {library} | {row['p99_ms_alone']:.1f} | {row['p99_ms_scraping']:.1f} | "
            f"{row['ratio']:.2f} |"
        )
    lines.append("")
    return lines + _commands(data) + _versions(data)


def _web(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return ["## folio-web", "", "Not run.", ""]
    lines = [
        "## folio-web",
        "",
        data.get("method", ""),
        "",
        "| request | variant | req/s (median) | ratio on/off (median, min to max) | p50 ms "
        "| p99 ms | CPU µs/request | CPU on/off (median, min to max) | web core busy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    beacons = data["beacons"]
    for workload in [*data["pages"].values(), beacons]:
        for variant, row in workload["variants"].items():
            if "skipped" in row:
                lines.append(f"| {workload['request']} | {variant} | skipped: {row['skipped']} |")
                continue
            shipped = variant == "metrics-on"
            lines.append(
                f"| {workload['request']} | {variant} | {row['rps']:,.0f} | "
                f"{_spread(workload['ratio_on_off']) if shipped else 'baseline'} | "
                f"{row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['cpu_us_per_request']:,.0f} | "
                f"{_spread(workload['cpu_ratio_on_off']) if shipped else 'baseline'} | "
                f"{row['web_core_busy']:.0%} |"
            )
    lines += [
        "",
        f"Beacons per second per core (metrics-on, one worker): {beacons['per_core']:,.0f}; "
        f"per CPU-second of folio-web: {beacons['per_cpu_second']:,.0f}.",
        "",
    ]
    return lines + _commands(data) + _versions(data)


def _merge(data: dict[str, Any] | None) -> list[str]:
    if data is None:
        return ["## Multi-worker merge", "", "Not run.", ""]
    result = data["result"]
    lines = [
        "## Multi-worker merge",
        "",
        data["method"],
        "",
        "| workers x series | folio ms | folio first scrape ms | prometheus_client ms "
        "| speed-up | folio's directory on disk |",
        "|---|---|---|---|---|---|",
        f"| {result['workers']} x {result['series_per_worker']:,} | {result['folio_ms']:.1f} | "
        f"{result['folio_first_scrape_ms']:.1f} | {result['prometheus_client_ms']:.1f} | "
        f"{result['speedup']:.1f}x | {result['folio_storage_bytes'] / 1024:,.0f} KiB |",
        "",
    ]
    return lines + _commands(data) + _versions(data)


def _spread(ratio: dict[str, float]) -> str:
    return f"{ratio['median']:.2f} ({ratio['min']:.2f} to {ratio['max']:.2f})"


def _commands(data: dict[str, Any]) -> list[str]:
    commands = data.get("commands", [])
    if not commands:
        return []
    return ["Commands:", "", "```sh", *commands, "```", ""]


def _versions(data: dict[str, Any]) -> list[str]:
    versions = data.get("versions", {})
    listed = ", ".join(f"{name} {version}" for name, version in versions.items())
    return [f"Versions: {listed}.", ""] if listed else []
