"""docs/benchmarks.md from bench/results/*.json: folio beside its peers, with the commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.overhead_apps import VARIANTS


def write_report(results: Path, destination: Path, *, quick: bool) -> Path:
    overhead = _load(results / "overhead.json")
    scrape = _load(results / "scrape.json")
    lines = ["# Benchmarks", ""]
    if quick:
        lines += [
            "> A `--quick` smoke run: too short to compare; run `make bench` for figures.",
            "",
        ]
    lines += _machine(overhead or scrape)
    lines += _targets(overhead, scrape)
    lines += _overhead(overhead) + _scrape(scrape)
    lines += [
        "## Multi-worker merge",
        "",
        "Measured once the multi-worker issue lands (4 workers x 1,000 series).",
        "",
    ]
    destination.write_text("\n".join(lines))
    return destination


def _targets(overhead: dict[str, Any] | None, scrape: dict[str, Any] | None) -> list[str]:
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
    if not rows:
        return []
    lines = ["## Against the targets", "", "| what | aim | this run | met |", "|---|---|---|---|"]
    lines += [
        f"| {what} | {aim} | {value} | {'yes' if met else 'no'} |" for what, aim, value, met in rows
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
            ratio = row["ratio_to_bare"]
            lines.append(
                f"| {variant} | {row['rps']:,.0f} | {ratio['median']:.2f} "
                f"({ratio['min']:.2f} to {ratio['max']:.2f}) | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {row['cpu_us_per_request']:.0f} |"
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


def _commands(data: dict[str, Any]) -> list[str]:
    commands = data.get("commands", [])
    if not commands:
        return []
    return ["Commands:", "", "```sh", *commands, "```", ""]


def _versions(data: dict[str, Any]) -> list[str]:
    versions = data.get("versions", {})
    listed = ", ".join(f"{name} {version}" for name, version in versions.items())
    return [f"Versions: {listed}.", ""] if listed else []
