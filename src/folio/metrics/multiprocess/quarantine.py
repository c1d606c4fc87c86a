"""Where damaged files go: out of every merge, but kept for someone to look at."""

from __future__ import annotations

import os
from pathlib import Path

QUARANTINE = "quarantine"
QUARANTINE_KEEPS = 20  # files kept for inspection; older ones are deleted


def set_aside(directory: Path, name: str, reason: str) -> bool:
    """Move ``name`` to ``quarantine/<name>.<reason>``; False when someone else already had.

    Raises OSError when the directory refuses the move (read-only, say).
    """
    quarantine = directory / QUARANTINE
    try:
        quarantine.mkdir(exist_ok=True)
        kept = sorted(quarantine.iterdir(), key=lambda entry: entry.stat().st_mtime)
        for old in kept[: max(0, len(kept) - QUARANTINE_KEEPS + 1)]:
            old.unlink()
        os.replace(directory / name, quarantine / f"{name}.{reason}")
    except FileNotFoundError:
        return False
    return True
