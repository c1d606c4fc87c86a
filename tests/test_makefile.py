"""`make run` installs what running needs and no more; `make test` adds the dev tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _planned(target: str) -> str:
    """What `make` would run for ``target`` with every prerequisite out of date."""
    if shutil.which("make") is None:
        pytest.skip("make not found")
    result = subprocess.run(
        ["make", "--dry-run", "--always-make", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def _syncs(plan: str) -> list[str]:
    return [line.strip() for line in plan.splitlines() if " sync " in line]


def test_make_run_syncs_only_the_runtime_dependencies() -> None:
    """One uv sync, without the default groups (dev and bench), and nothing uninstalled."""
    syncs = _syncs(_planned("run"))
    assert len(syncs) == 1, syncs
    assert "--no-default-groups" in syncs[0]
    assert "--inexact" in syncs[0]  # a later `make run` keeps what `make test` added
    assert "--frozen" in syncs[0]


def test_make_test_syncs_the_default_groups() -> None:
    """`make test` installs the lock with the dev and bench groups it needs."""
    syncs = _syncs(_planned("test"))
    assert syncs, "make test installs nothing"
    assert all("--no-default-groups" not in sync and "--frozen" in sync for sync in syncs)
