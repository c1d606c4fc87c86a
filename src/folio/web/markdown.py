"""Markdown to safe HTML: raw HTML is escaped, and links and images keep safe URLs only.

Project bodies use render_markdown; a document with sections to link to (the runbook)
uses render_document, which gives each `## ` heading an id.
"""

from __future__ import annotations

import re
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore

# An allowlist, not markdown-it's denylist (which lets data:image/... through as a link
# and knows nothing of schemes yet to come). A URL with no scheme is a path or #fragment.
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")
# GitHub's heading anchors: lower case, punctuation dropped, spaces made hyphens. For an
# alert's name that is just the name in lower case, as each alert's runbook_url expects.
_NOT_IN_SLUG = re.compile(r"[^\w\- ]")


def is_safe_url(url: str) -> bool:
    """True for http(s), mailto and scheme-less URLs; markdown-it drops the others' links.

    markdown-it calls this with the URL already normalised: entities decoded, and spaces,
    tabs and other controls percent-encoded, so "java&#x09;script:" has no scheme here and
    none in the browser either (where it is a relative path).
    """
    scheme = _SCHEME.match(url.strip().lower())
    return scheme is None or scheme.group(1) in SAFE_SCHEMES


@cache
def _renderer() -> MarkdownIt:
    # "commonmark" with html=False escapes raw HTML in the source; a link or image whose
    # URL fails validateLink is left as its plain source text.
    renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    renderer.validateLink = is_safe_url  # type: ignore[method-assign]
    return renderer.enable(["table", "strikethrough"])


def render_markdown(source: str) -> str:
    """Markdown to safe HTML."""
    html: str = _renderer().render(source)
    return html


def heading_id(title: str) -> str:
    """The id a ``## title`` heading gets: "FolioTargetDown" gives "foliotargetdown"."""
    return _NOT_IN_SLUG.sub("", title.strip().lower()).replace(" ", "-")


@cache
def _document_renderer() -> MarkdownIt:
    renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    renderer.validateLink = is_safe_url  # type: ignore[method-assign]
    renderer.core.ruler.push("h2_ids", _add_h2_ids)
    return renderer.enable(["table", "strikethrough"])


def _add_h2_ids(state: StateCore) -> None:
    tokens = state.tokens
    for index, token in enumerate(tokens[:-1]):
        if token.type == "heading_open" and token.tag == "h2":
            title = "".join(child.content for child in tokens[index + 1].children or [])
            token.attrSet("id", heading_id(title))


def render_document(source: str) -> str:
    """Markdown to safe HTML whose ``## `` headings have ids, for links to #sections."""
    html: str = _document_renderer().render(source)
    return html
