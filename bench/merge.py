"""`python -m bench.merge [--quick]`: scraping 4 workers' series, folio vs prometheus_client.

Both libraries get the same data: WORKERS real processes each observe the same histogram
series (3 labels, default buckets). folio's workers stay alive, as they would while
serving; prometheus_client's write their files and exit (its collector reads files alike,
live or not). Then this process times one full scrape, merge plus text render, for each
library alternately, and checks both report the same observation count.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from folio_metrics import MetricsRegistry, render
from folio_metrics.multiprocess import MetricsDirectory, WorkerMetrics
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from bench.common import RESULTS_DIR, median, versions, write_results
from bench.scrape import HELP, LABELS, METRIC, default_buckets, populate, series_data

WORKERS = 4
TARGET_MS = 50.0

CLIENT_WORKER = textwrap.dedent(
    """
    import sys
    from prometheus_client import CollectorRegistry, Histogram
    from bench.scrape import HELP, LABELS, METRIC, default_buckets, populate, series_data
    histogram = Histogram(METRIC, HELP, LABELS, buckets=default_buckets(),
                          registry=CollectorRegistry())
    populate(histogram.labels, series_data(int(sys.argv[1])))
    """
)


def folio_registry(path: Path, series: int) -> MetricsRegistry:
    registry = MetricsRegistry(default_max_series=series + 10, storage=WorkerMetrics(path))
    registry.histogram(METRIC, HELP, LABELS, buckets=default_buckets())
    return registry


def start_folio_workers(path: Path, series: int) -> list[int]:
    """WORKERS forked processes that record the data, say so on a pipe, then wait."""
    pids = []
    for _ in range(WORKERS):
        ready_read, ready_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                registry = folio_registry(path, series)
                populate(registry.families[METRIC].labels, series_data(series))  # type: ignore[arg-type]
                os.write(ready_write, b"x")
                status = 0
                time.sleep(3600)
            finally:
                os._exit(status)
        os.close(ready_write)
        if os.read(ready_read, 1) != b"x":
            raise RuntimeError("a folio worker failed to record its series")
        os.close(ready_read)
        pids.append(pid)
    return pids


def write_client_files(path: Path, series: int) -> None:
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(path)}
    for _ in range(WORKERS):
        subprocess.run(
            [sys.executable, "-c", CLIENT_WORKER, str(series)],
            env=environment,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )


def client_scrape(path: Path) -> bytes:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return generate_latest(registry)


def observations(body: bytes) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.decode().splitlines()
        if line.startswith(f"{METRIC}_count")
    )


def timed_ms(function: Callable[[], bytes]) -> tuple[float, bytes]:
    gc.collect()
    start = time.perf_counter()
    body = function()
    return (time.perf_counter() - start) * 1e3, body


def measure(series: int, repetitions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folio_dir, tempfile.TemporaryDirectory() as client_dir:
        MetricsDirectory.reset(Path(folio_dir))
        pids = start_folio_workers(Path(folio_dir), series)
        try:
            write_client_files(Path(client_dir), series)
            scraped = folio_registry(Path(folio_dir), series)
            scrapes: dict[str, Callable[[], bytes]] = {
                "folio": lambda: render(scraped),
                "prometheus_client": lambda: client_scrape(Path(client_dir)),
            }
            times: dict[str, list[float]] = {name: [] for name in scrapes}
            first_folio_ms, _ = timed_ms(scrapes["folio"])  # parses every file once
            for repetition in range(repetitions):
                order = list(scrapes) if repetition % 2 == 0 else list(scrapes)[::-1]
                for name in order:
                    elapsed, body = timed_ms(scrapes[name])
                    expected = WORKERS * series * len(series_data(1)[0][1])
                    if observations(body) != expected:
                        raise RuntimeError(f"{name} reported {observations(body)}, not {expected}")
                    times[name].append(elapsed)
            storage = MetricsDirectory(Path(folio_dir)).storage_bytes()
        finally:
            for pid in pids:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
    folio_ms = median(times["folio"])
    client_ms = median(times["prometheus_client"])
    return {
        "workers": WORKERS,
        "series_per_worker": series,
        "folio_ms": folio_ms,
        "folio_first_scrape_ms": first_folio_ms,
        "prometheus_client_ms": client_ms,
        "speedup": client_ms / folio_ms,
        "folio_storage_bytes": storage,
        "target_ms": TARGET_MS,
        "met": folio_ms <= TARGET_MS,
        "repetitions": times,
    }


def method_text(repetitions: int) -> str:
    return (
        f"{WORKERS} worker processes each observe the same N histogram series (labels "
        f"{', '.join(LABELS)}; prometheus_client's default buckets; the scrape benchmark's "
        "data). folio: forked workers with folio_metrics' shared directory, alive while "
        "measured; prometheus_client: 4 processes with PROMETHEUS_MULTIPROC_DIR that write "
        "their files and exit. One scrape = merge every worker's data and render the text "
        "format: folio's render(registry) in a fifth process that shares the directory, "
        "against a fresh CollectorRegistry with MultiProcessCollector plus generate_latest. "
        f"{repetitions} repetitions, the two alternating, who goes first flipping; medians. "
        "folio's first scrape, which parses each file's index once, is reported apart. "
        "Every scrape must report all 4 x N x 4 observations."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.merge", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 series, 2 repetitions")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    arguments = parser.parse_args(argv)
    series, repetitions = (100, 2) if arguments.quick else (1_000, 9)
    started = time.monotonic()
    result = measure(series, repetitions)
    path = write_results(
        "merge",
        {
            "quick": arguments.quick,
            "result": result,
            "elapsed_seconds": round(time.monotonic() - started, 1),
            "method": method_text(repetitions),
            "commands": [".venv/bin/python -m bench.merge"],
            "versions": versions("prometheus-client"),
        },
        arguments.results_dir,
    )
    print(
        f"{WORKERS} workers x {series:,} series: folio {result['folio_ms']:.1f} ms "
        f"(first {result['folio_first_scrape_ms']:.1f} ms), prometheus_client "
        f"{result['prometheus_client_ms']:.1f} ms, {result['speedup']:.1f}x; wrote {path}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
