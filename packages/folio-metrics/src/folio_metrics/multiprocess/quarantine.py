"""Where damaged files go: out of every merge, but kept for someone to look at."""

from __future__ import annotations

import os
from pathlib import Path

QUARANTINE = "quarantine"
QUARANTINE_KEEPS = 20  # files kept for inspection; older ones are deleted


def set_aside(directory: Path, name: str, reason: str, *, keep: bool = False) -> bool:
    """Put ``name`` in ``quarantine/<name>.<reason>``; False when someone else already had.

    With ``keep`` the file also stays where it is, as a second hard link: its owner is
    alive and replaces it with a fresh file, and should the owner die first, compaction
    still finds it and keeps what can be trusted. Readers skip any file with two links.
    Raises OSError when the directory refuses (read-only, say).
    """
    quarantine = directory / QUARANTINE
    quarantine.mkdir(exist_ok=True)
    _prune(quarantine)
    target = quarantine / f"{name}.{reason}"
    try:
        if keep:
            os.link(directory / name, target)
        else:
            os.replace(directory / name, target)
    except (FileNotFoundError, FileExistsError):
        return False
    return True


def _prune(quarantine: Path) -> None:
    """Keep the newest few; never one still linked from the directory, whose owner lives."""
    found = []
    for entry in quarantine.iterdir():
        try:
            status = entry.stat()
        except FileNotFoundError:
            continue
        if not is_set_aside(status.st_nlink):
            found.append((status.st_mtime, entry))
    found.sort()
    for _, old in found[: max(0, len(found) - QUARANTINE_KEEPS + 1)]:
        old.unlink(missing_ok=True)


def is_set_aside(links: int) -> bool:
    """Whether a worker file with ``links`` hard links is in quarantine too."""
    return links > 1
