"""The runbook page's content: docs/runbook.md, so the /status alerts panel can link to it.

The Markdown is found and rendered once, when the app is built. An installed wheel
carries it as folio/web/runbook.md (pyproject.toml force-includes docs/runbook.md); an
editable install of a checkout reads the checkout's docs/runbook.md. The page sits
behind the same switch and token as /status (routes/runbook.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import folio
from folio.web.markdown import render_document

log = logging.getLogger(__name__)

NOT_FOUND = (
    "The runbook is not part of this installation: neither folio/web/runbook.md (in a "
    "wheel) nor docs/runbook.md (in a checkout) was found when folio-web started."
)


def runbook_sources() -> list[Traversable]:
    """Where the runbook may be, in order: inside the installed package, then the checkout."""
    checkout = Path(folio.__file__).resolve().parents[2] / "docs" / "runbook.md"
    return [resources.files("folio.web").joinpath("runbook.md"), checkout]


def read_runbook(sources: Iterable[Traversable] | None = None) -> str | None:
    """The runbook's Markdown from the first source that has it, or None."""
    for source in runbook_sources() if sources is None else sources:
        if source.is_file():
            return source.read_text(encoding="utf-8")
    log.warning("no folio/web/runbook.md or docs/runbook.md: /runbook will answer 404")
    return None


def render_runbook() -> str | None:
    """The runbook as HTML, read and rendered once, when the app is built; None if missing."""
    markdown = read_runbook()
    return render_document(markdown) if markdown is not None else None
