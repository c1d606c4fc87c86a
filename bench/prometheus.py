"""A throwaway Prometheus process scraping one target, and instant queries against it."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
import yaml


class PrometheusUnavailable(Exception):
    """No ``prometheus`` binary on PATH."""


def binary() -> str:
    """The ``prometheus`` on PATH; Debian's package puts 2.42 there."""
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusUnavailable(
            "prometheus not found: install Debian's prometheus package (.ci/run does)"
        )
    return found


def version() -> str:
    """The version ``prometheus --version`` states, such as "2.42.0+ds"."""
    result = subprocess.run(
        [binary(), "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    words = (result.stdout or result.stderr).split()
    return words[words.index("version") + 1] if "version" in words else "unknown"


def start(
    directory: Path, target: str, port: int, *, native: bool, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    """Prometheus scraping ``target`` every second, its config and data in ``directory``;
    ``native`` turns on native histograms (and with them the protobuf scrape)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [{"job_name": "app", "static_configs": [{"targets": [target]}]}],
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    command = [
        binary(),
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    if native:
        command.append("--enable-feature=native-histograms")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    """The result of the instant query ``promql`` now; raises if Prometheus refuses it."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def value(prometheus: str, promql: str) -> float:
    """The one float sample ``promql`` returns now; NaN when it returns none."""
    result = query(prometheus, promql)
    if not result:
        return float("nan")
    (sample,) = result
    return float(sample["value"][1])


def target_up(prometheus: str) -> bool:
    """Whether Prometheus has scraped its one target successfully."""
    response = httpx.get(f"{prometheus}/api/v1/targets", timeout=5)
    if response.status_code != 200:  # 503 while it is still starting
        return False
    targets = response.json()["data"]["activeTargets"]
    return bool(targets) and all(target["health"] == "up" for target in targets)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true, a refused connection counting as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
