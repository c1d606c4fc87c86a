"""/runbook in-process: docs/runbook.md with an id per section, behind /status's gate."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pydantic import SecretStr

from folio.web import runbook
from folio.web.markdown import render_document
from tests.web.conftest import Site

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "runbook.md"
TOKEN = "status-token-0123"


class _Headings(HTMLParser):
    """Each h2's id and text, and every script a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.h2: dict[str, str] = {}
        self.scripts: list[str] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "h2":
            self._open = attributes.get("id") or ""
            self.h2[self._open] = ""
        if tag == "script":
            self.scripts.append(attributes.get("src") or "(inline)")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.h2[self._open] += data


def _headings(html: str) -> _Headings:
    parser = _Headings()
    parser.feed(html)
    return parser


async def test_runbook_has_an_id_for_every_section(make_site: Site) -> None:
    """Every `## Title` of docs/runbook.md is an h2 with id="title" (lower case), so
    /runbook#foliotargetdown, the link the /status alerts panel makes, lands on it."""
    titles = re.findall(r"^## (.+?)\s*$", RUNBOOK.read_text(), re.MULTILINE)
    assert "FolioTargetDown" in titles
    async with make_site() as site:
        page = await site.get("/runbook")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    found = _headings(page.text)
    assert found.h2 == {title.lower(): title for title in titles}
    assert found.scripts == []  # an operator page: no rum.js, no web-vitals
    assert '<a href="#folioeventlooplag">' in page.text  # the runbook's own cross-links


async def test_runbook_is_rendered_once_when_the_app_is_built(
    make_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Markdown is rendered when create_app runs, not again for each request."""
    sources: list[str] = []
    real = runbook.render_document
    monkeypatch.setattr(runbook, "render_document", lambda md: sources.append(md) or real(md))
    async with make_site() as site:
        assert len(sources) == 1
        for _ in range(3):
            assert (await site.get("/runbook")).status_code == 200
    assert sources == [RUNBOOK.read_text()]


async def test_runbook_is_switched_off_with_the_status_page(make_site: Site) -> None:
    """FOLIO_STATUS_PAGE=false: /runbook does not exist either."""
    async with make_site(status_page=False) as site:
        assert (await site.get("/runbook")).status_code == 404


async def test_runbook_needs_the_status_token(make_site: Site) -> None:
    """With FOLIO_STATUS_TOKEN, /runbook is 401 without it; the header or ?token= gets in."""
    async with make_site(status_token=SecretStr(TOKEN)) as site:
        for refused in (
            await site.get("/runbook"),
            await site.get("/runbook", params={"token": "wrong"}),
            await site.get("/runbook", headers={"Authorization": "Bearer wrong"}),
        ):
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert "FOLIO_STATUS_TOKEN" in refused.text
            assert "foliotargetdown" not in refused.text
        by_header = await site.get("/runbook", headers={"Authorization": f"Bearer {TOKEN}"})
        by_query = await site.get("/runbook", params={"token": TOKEN})
    for allowed in (by_header, by_query):
        assert allowed.status_code == 200
        assert 'id="foliotargetdown"' in allowed.text


async def test_missing_runbook_is_a_404_that_says_so(
    make_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installation without the runbook still starts; /runbook explains what is missing."""
    monkeypatch.setattr(runbook, "runbook_sources", lambda: [])
    async with make_site() as site:
        page = await site.get("/runbook")
    assert page.status_code == 404
    assert "docs/runbook.md" in page.text
    assert "folio/web/runbook.md" in page.text


def test_packaged_runbook_comes_first(tmp_path: Path) -> None:
    """The copy inside the installed package wins over a checkout's docs/runbook.md."""
    packaged, checkout = tmp_path / "packaged.md", tmp_path / "checkout.md"
    checkout.write_text("## Checkout\n")
    assert runbook.read_runbook([packaged, checkout]) == "## Checkout\n"
    packaged.write_text("## Packaged\n")
    assert runbook.read_runbook([packaged, checkout]) == "## Packaged\n"
    assert runbook.read_runbook([tmp_path / "nowhere.md"]) is None
    sources = runbook.runbook_sources()
    assert str(sources[0]).endswith(str(Path("folio", "web", "runbook.md")))
    assert sources[1] == RUNBOOK  # this checkout's, for an editable install


def test_runbook_markdown_is_rendered_safely() -> None:
    """Raw HTML in the Markdown is escaped, ids are GitHub's anchors, unsafe links dropped."""
    html = render_document(
        "## Foo `Bar` baz!\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n"
    )
    assert '<h2 id="foo-bar-baz">' in html
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "href=" not in html
