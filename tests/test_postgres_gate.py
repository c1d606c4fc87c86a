"""Without PostgreSQL, its tests skip with a reason locally and fail under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ONE_POSTGRES_TEST = "tests/api/test_health.py::test_liveness_is_ok[postgresql]"


def _run_without_postgres(ci: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "FOLIO_TEST_POSTGRES_URL"}
    environment["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", ONE_POSTGRES_TEST],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("ci", "exit_code", "outcome"), [("true", 1, "error"), ("", 0, "skipped")])
def test_missing_postgres_fails_in_ci_and_skips_elsewhere(
    ci: str, exit_code: int, outcome: str
) -> None:
    """CI=true turns a missing PostgreSQL into a failure; locally it is a skip that says why."""
    result = _run_without_postgres(ci)
    assert result.returncode == exit_code, result.stdout
    assert f"1 {outcome}" in result.stdout
    assert "FOLIO_TEST_POSTGRES_URL is not set" in result.stdout
