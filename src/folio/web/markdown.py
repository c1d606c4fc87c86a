"""Markdown to safe HTML: raw HTML is escaped, and links and images keep safe URLs only."""

from __future__ import annotations

import re
from functools import cache

from markdown_it import MarkdownIt

# An allowlist, not markdown-it's denylist (which lets data:image/... through as a link
# and knows nothing of schemes yet to come). A URL with no scheme is a path or #fragment.
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")


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
    html: str = _renderer().render(source)
    return html
