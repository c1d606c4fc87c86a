"""Markdown to safe HTML: raw HTML is escaped, dangerous link schemes are dropped."""

from __future__ import annotations

from functools import cache

from markdown_it import MarkdownIt


@cache
def _renderer() -> MarkdownIt:
    # "commonmark" with html=False escapes raw HTML in the source; markdown-it's own link
    # validation refuses javascript:, vbscript:, file: and data: (but image) URLs.
    renderer = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    return renderer.enable(["table", "strikethrough"])


def render_markdown(source: str) -> str:
    html: str = _renderer().render(source)
    return html
