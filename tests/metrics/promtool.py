"""Find promtool, failing under CI=true and skipping (with the reason) elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def promtool() -> str:
    path = shutil.which("promtool")
    if path:
        return path
    reason = "promtool not found: install Debian's prometheus package (.ci/run does)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def check_metrics(text: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run `promtool check metrics` on an exposition; clean output means no complaints."""
    return subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
    )
