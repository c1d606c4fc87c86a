"""Debian's headless Chromium driven by Playwright, and where browser tests put screenshots.

The `browser` and `artifacts` fixtures (tests/conftest.py) come from here, so every browser
test launches Chromium the same way and skips, or fails under CI=true, for the same reasons.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Error, sync_playwright

from tests.ci import unavailable

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[1]
# Without the background-networking flags Chromium keeps dialling out, and this machine's
# closed network refuses it, many times a second.
ARGUMENTS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@contextmanager
def chromium() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        unavailable(f"chromium not found at {CHROMIUM}: install Debian's chromium (.ci/run does)")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=ARGUMENTS
        )
    except Error as error:
        playwright.stop()
        unavailable(f"Playwright could not launch {CHROMIUM}: {error.message}")
    try:
        yield launched
    finally:
        launched.close()
        playwright.stop()


def artifacts_directory() -> Path:
    """FOLIO_TEST_ARTIFACTS, or .artifacts/browser in the checkout (not committed)."""
    directory = Path(os.environ.get("FOLIO_TEST_ARTIFACTS") or REPO / ".artifacts" / "browser")
    directory.mkdir(parents=True, exist_ok=True)
    return directory
