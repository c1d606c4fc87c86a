"""/status's alerts panel against real Prometheus servers evaluating this module's rules.

Nothing here pretends to be Prometheus: two real ones run (the binary `folio run` uses),
one whose rules hold alerts firing and pending at both severities, and one with no rules.
folio-web runs in-process against them. Prometheus down, and exactly what folio-web asks
Prometheus for, are checked as tests/web/test_status.py does, with no Prometheus at all.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from pydantic import SecretStr

from folio.web.status_alerts import NO_ALERTS, format_age, runbook_anchor
from tests.web import real_prometheus
from tests.web.conftest import Site
from tests.web.test_status import RefusingTransport

TOKEN = "status-token-0123"
SCRIPT_SUMMARY = '<script>alert("summary")</script> & <b>more</b>'
BAD_RUNBOOK = 'docs/runbook.md#"><script>alert(1)</script>'
# The order the panel must show; the rules file lists them the other way round.
EXPECTED = [
    ("FiringPageOld", "firing", "page", "foliotargetdown"),
    ("FiringPageNew", "firing", "page", "foliohigh5xxratio"),
    ("FiringTicket", "firing", "ticket", None),
    ("PendingPage", "pending", "page", "folioapiavailabilityburnfast"),
    ("PendingTicket", "pending", "ticket", "foliohighlatencyp95"),
]


@dataclass
class Prometheuses:
    alerting: str
    quiet: str


def _rules(later: float) -> dict[str, Any]:
    def rule(
        name: str, severity: str, runbook: str, hold: str = "0s", expr: str = "vector(1)"
    ) -> Any:
        return {
            "alert": name,
            "expr": expr,
            "for": hold,
            "labels": {"severity": severity},
            "annotations": {"summary": f"summary of {name}", "runbook_url": runbook},
        }

    rules = [
        rule("PendingTicket", "ticket", "docs/runbook.md#foliohighlatencyp95", "1h"),
        rule("PendingPage", "page", "docs/runbook.md#folioapiavailabilityburnfast", "1h"),
        rule("FiringTicket", "ticket", BAD_RUNBOOK),
        # Starts a few seconds after the others, so it has been active for less time.
        rule(
            "FiringPageNew",
            "page",
            "docs/runbook.md#foliohigh5xxratio",
            expr=f"vector(time()) > {later:.0f}",
        ),
        rule("FiringPageOld", "page", "docs/runbook.md#foliotargetdown"),
    ]
    rules[0]["annotations"]["summary"] = SCRIPT_SUMMARY
    return {"groups": [{"name": "status-page-test", "interval": "1s", "rules": rules}]}


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheuses]:
    """Two Prometheus servers: one with this module's alerts all active, one with no rules."""
    directory = tmp_path_factory.mktemp("prometheus")
    with (
        real_prometheus.prometheus(directory / "alerting", _rules(time.time() + 4)) as alerting,
        real_prometheus.prometheus(directory / "quiet", None) as quiet,
    ):
        deadline = time.monotonic() + 30
        while not _settled(alerting, quiet):
            assert time.monotonic() < deadline, f"alerts did not settle (logs: {directory})"
            time.sleep(0.2)
        yield Prometheuses(alerting, quiet)


def _settled(alerting: str, quiet: str) -> bool:
    """Both are ready, and every alert of EXPECTED is in its state (the new one, too)."""
    if not (real_prometheus.ready(alerting) and real_prometheus.ready(quiet)):
        return False
    active = real_prometheus.active_alerts(alerting)
    states = {alert["labels"]["alertname"]: alert["state"] for alert in active}
    return states == {name: state for name, state, _, _ in EXPECTED}


@dataclass
class Row:
    attributes: dict[str, str]
    cells: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    since: str = ""


class _Panel(HTMLParser):
    """The alerts section's state and its rows, as the browser would show their text."""

    def __init__(self) -> None:
        super().__init__()
        self.state: str | None = None
        self.rows: list[Row] = []
        self._row: Row | None = None
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if attributes.get("data-status") == "alerts":
            self.state = attributes.get("data-alerts")
        if tag == "tr" and "data-alert" in attributes:
            self._row = Row(attributes)
            self.rows.append(self._row)
        elif self._row is not None and tag == "td":
            self._row.cells.append("")
            self._in_cell = True
        elif self._row is not None and tag == "a":
            self._row.links.append(attributes.get("href", ""))
        elif self._row is not None and tag == "time":
            self._row.since = attributes.get("datetime", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        self._in_cell = self._in_cell and tag != "td"

    def handle_data(self, data: str) -> None:
        if self._row is not None and self._in_cell:
            self._row.cells[-1] += data.strip()


def _panel(html: str) -> _Panel:
    parser = _Panel()
    parser.feed(html)
    return parser


def _seconds(age: str) -> int:
    found = re.fullmatch(r"(?:(\d+)m )?(\d+)s", age)
    assert found, age
    return int(found[1] or 0) * 60 + int(found[2])


async def test_no_active_alerts_says_so(make_site: Site, prometheus: Prometheuses) -> None:
    """A Prometheus with nothing pending or firing: the panel says so in words, no table."""
    async with make_site(prometheus_url=prometheus.quiet) as site:
        page = await site.get("/status")
    assert page.status_code == 200
    panel = _panel(page.text)
    assert panel.state == "none"
    assert NO_ALERTS in page.text
    assert panel.rows == []


async def test_active_alerts_are_listed_in_order(make_site: Site, prometheus: Prometheuses) -> None:
    """Firing before pending, page before ticket, longest active first; each with its details."""
    active = {
        a["labels"]["alertname"]: a for a in real_prometheus.active_alerts(prometheus.alerting)
    }
    async with make_site(prometheus_url=prometheus.alerting) as site:
        before = datetime.now(UTC)
        page = await site.get("/status")
        after = datetime.now(UTC)
    assert page.status_code == 200
    panel = _panel(page.text)
    assert panel.state == "active"
    assert [row.attributes["data-alert"] for row in panel.rows] == [e[0] for e in EXPECTED]
    for row, (name, state, severity, anchor) in zip(panel.rows, EXPECTED, strict=True):
        state_cell, severity_cell, name_cell, summary, age, runbook = row.cells
        assert (state_cell, severity_cell, name_cell) == (state, severity, name)
        assert summary == active[name]["annotations"]["summary"]
        started = datetime.fromisoformat(active[name]["activeAt"]).replace(microsecond=0)
        assert row.since == started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        low, high = ((moment - started).total_seconds() for moment in (before, after))
        assert int(low) - 1 <= _seconds(age) <= int(high) + 1, (name, age)
        if anchor is None:
            assert row.links == []
            assert runbook == BAD_RUNBOOK  # not a runbook section: shown as text, no link
        else:
            assert row.links == [f"/runbook#{anchor}"]
            assert runbook == anchor


async def test_annotations_are_escaped(make_site: Site, prometheus: Prometheuses) -> None:
    """A summary and a runbook_url holding markup are shown as text, never as HTML."""
    async with make_site(prometheus_url=prometheus.alerting) as site:
        page = await site.get("/status")
    assert "<script>alert" not in page.text
    assert "<b>more" not in page.text
    assert "&lt;script&gt;alert(&#34;summary&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in page.text
    assert 'href="/runbook#&#34;' not in page.text
    cells = [cell for row in _panel(page.text).rows for cell in row.cells]
    assert SCRIPT_SUMMARY in cells


async def test_runbook_links_carry_the_page_token(
    make_site: Site, prometheus: Prometheuses
) -> None:
    """Opened with ?token=, the runbook links pass it on; with the header, they need not."""
    settings = {"prometheus_url": prometheus.alerting, "status_token": SecretStr(TOKEN)}
    async with make_site(**settings) as site:
        by_query = _panel((await site.get("/status", params={"token": TOKEN})).text)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        by_header = _panel((await site.get("/status", headers=headers)).text)
    assert by_query.rows[0].links == [f"/runbook?token={TOKEN}#foliotargetdown"]
    assert by_header.rows[0].links == ["/runbook#foliotargetdown"]


async def test_unreachable_prometheus_is_said_on_the_page(make_site: Site) -> None:
    """Prometheus on a closed port: the page is still 200, and its panel says why it is empty."""
    async with make_site(prometheus_url="http://127.0.0.1:1") as site:
        page = await site.get("/status")
    assert page.status_code == 200
    panel = _panel(page.text)
    assert panel.state == "unavailable"
    assert panel.rows == []
    assert "Alerts are unavailable. Prometheus is unreachable" in page.text
    assert NO_ALERTS not in page.text
    assert 'data-chart="request_rate"' in page.text  # the charts say so for themselves


async def test_the_page_asks_prometheus_only_for_its_alerts(make_site: Site) -> None:
    """/status sends one fixed GET /api/v1/alerts, whatever its URL says; none when refused."""
    refusing = RefusingTransport()
    settings = {"prometheus_url": "http://prometheus.test:9090", "status_token": SecretStr(TOKEN)}
    async with make_site(refusing, **settings) as site:
        assert (await site.get("/status", params={"query": "up"})).status_code == 401
        assert refusing.requests == []
        params = {"token": TOKEN, "query": "up", "match[]": "up", "state": "inactive"}
        assert (await site.get("/status", params=params)).status_code == 200
    assert [(r.method, str(r.url)) for r in refusing.requests] == [
        ("GET", "http://prometheus.test:9090/api/v1/alerts")
    ]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-3, "0s"),
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m 0s"),
        (3599, "59m 59s"),
        (3600, "1h 0m"),
        (86399, "23h 59m"),
        (90061, "1d 1h"),
    ],
)
def test_format_age(seconds: float, shown: str) -> None:
    """Ages read in their two largest units; a clock slightly ahead is not a negative age."""
    assert format_age(seconds) == shown


@pytest.mark.parametrize(
    ("url", "anchor"),
    [
        ("docs/runbook.md#foliotargetdown", "foliotargetdown"),
        ("https://git.example/folio/blob/main/docs/runbook.md#FolioTargetDown", "foliotargetdown"),
        ("docs/runbook.md", None),
        ("docs/other.md#foliotargetdown", None),
        ("https://wiki.example/runbooks#x", None),
        (BAD_RUNBOOK, None),
        ("docs/runbook.md#a b", None),
        ("", None),
    ],
)
def test_runbook_anchor(url: str, anchor: str | None) -> None:
    """Only a section of folio's runbook, with an id-safe name, becomes a /runbook link."""
    assert runbook_anchor(url) == anchor
