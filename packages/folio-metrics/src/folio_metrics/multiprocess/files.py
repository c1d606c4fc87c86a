"""What the names in the shared directory say: whose file it is, and what a reset removes."""

from __future__ import annotations

import os

from folio_metrics.multiprocess.archive import ARCHIVE

WORKER_PREFIX = "worker-"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, not ours to judge
    return True


def worker_pid(file_name: str) -> int | None:
    """The pid in ``worker-<pid>-<nonce>-<segment>.db``, or None for other files."""
    if not file_name.startswith(WORKER_PREFIX) or not file_name.endswith(".db"):
        return None
    pid = file_name[len(WORKER_PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def from_a_run(name: str) -> bool:
    """The archive, worker files, and what a process killed halfway through writing left."""
    hidden = name.startswith(".") and (name.endswith(".new") or name.startswith(f".{ARCHIVE}."))
    plain = name.lstrip(".").removesuffix(".new")
    return name == ARCHIVE or hidden or worker_pid(plain) is not None
