"""`folio run` as a real process for the tests in this package."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OPTIONS = {
    "folio-api": "--api-port",
    "folio-web": "--web-port",
    "prometheus": "--prometheus-port",
    "alertmanager": "--alertmanager-port",
}


def folio_run(tmp_path: Path, ports: dict[str, int], *extra: str) -> list[str]:
    """The `folio run` command line with ``ports`` by service and data under tmp_path/var."""
    command = [sys.executable, "-m", "folio", "run", "--data-dir", str(tmp_path / "var")]
    for service, port in ports.items():
        command += [OPTIONS[service], str(port)]
    return [*command, *extra]


def environment(tmp_path: Path) -> dict[str, str]:
    """This environment with a database of its own under ``tmp_path``."""
    return {**os.environ, "FOLIO_DATABASE_URL": f"sqlite:///{tmp_path}/folio.db"}


@contextmanager
def running_stack(
    command: list[str],
    env: dict[str, str],
    log: Path,
    cwd: Path | None = None,
    ready_within: float = 60,
) -> Iterator[subprocess.Popen[bytes]]:
    """`folio run` until it has printed its URLs; stopped with Ctrl-C (and must exit 0)."""
    with log.open("ab") as out:
        stack = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    try:
        deadline = time.monotonic() + ready_within
        while "Press Ctrl-C" not in log.read_text():
            assert stack.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield stack
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            assert stack.wait(timeout=30) == 0
        finally:
            if stack.poll() is None:
                stack.kill()
                stack.wait()
