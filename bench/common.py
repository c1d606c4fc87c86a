"""What every benchmark part shares: machine facts, versions, paired statistics, results."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"


def pinned_uvicorn(
    factory: str, port: int, options: Sequence[str], *, cpu: str, host: str
) -> list[str]:
    """One uvicorn worker serving the app ``factory`` builds, pinned to ``cpu``, quiet."""
    return [
        *("taskset", "-c", cpu, sys.executable, "-m", "uvicorn", factory, "--factory"),
        *("--host", host, "--port", str(port), *options),
        *("--log-level", "warning", "--no-access-log"),
    ]


def machine() -> dict[str, Any]:
    """Where the numbers came from; benchmarks mean little without it."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
    }


def versions(*packages: str) -> dict[str, str]:
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def paired_ratios(baseline: Sequence[float], variant: Sequence[float]) -> dict[str, float]:
    """Round-by-round variant/baseline ratios (rounds were interleaved), and their median."""
    ratios = [v / b for b, v in zip(baseline, variant, strict=True) if b]
    return {
        "median": median(ratios),
        "min": min(ratios, default=float("nan")),
        "max": max(ratios, default=float("nan")),
    }


def write_results(name: str, data: dict[str, Any], directory: Path | None = None) -> Path:
    """bench/results/<name>.json, with the machine and the command that made it."""
    directory = directory or RESULTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": machine(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        **data,
    }
    path = directory / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    return path


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports, bound at once so that none comes back twice."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s: every server a benchmark starts ends here."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return result.stdout.strip() or "unknown"
    except OSError:
        return "unknown"
