"""docs/metrics.md against each service's live /api/metrics, and PromQL that parses.

The doc has three parts: families served by both services, folio-api's own and folio-web's
own. For each service, the shared part plus its own part must be exactly what it serves.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from folio.dashboards.promql import NATIVE_HISTOGRAMS
from folio.web.app import create_app as create_web_app
from folio.web.settings import WebSettings
from tests.deploy.histogram_forms import one_sided
from tests.factories import project_payload
from tests.metrics.promtool import promtool

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
SHARED = "Served by both"
PARTS = {"folio-api": "folio-api (:3001)", "folio-web": "folio-web (:3000)"}
FAMILY_HEADER = ["name", "type", "labels", "unit", "meaning"]
BUCKET_HEADER = ["histogram", "buckets (upper bounds)"]
EXAMPLE_HEADER = ["metric", "PromQL"]
NATIVE = "Native histograms"
NATIVE_HEADER = ["native histogram", "served by"]
DOCS = DOC.parent
NAME = re.compile(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`")
QUERY = re.compile(r"^`(?P<query>[^`]+)`$")
# A one-bucket selector in a query, e.g. web_vitals_lcp_seconds_bucket{le="2.5"}.
BUCKET_SELECTOR = re.compile(r"(?P<family>[a-zA-Z_:][a-zA-Z0-9_:]*)_bucket\{(?P<matchers>[^}]*)\}")
LE_MATCHER = re.compile(r'\ble\s*=\s*"(?P<le>[^"]*)"')
FORMATS = {
    "text": "text/plain; version=0.0.4",
    "openmetrics": "application/openmetrics-text; version=1.0.0",
}
SITE = "http://folio.test"
BEACON = {
    "page": "/",
    "vitals": [
        {"name": "LCP", "value": 1200},
        {"name": "INP", "value": 80},
        {"name": "CLS", "value": 0.02},
        {"name": "FCP", "value": 900},
        {"name": "TTFB", "value": 150},
    ],
    "resources": [{"type": "script", "duration": 20}],
    "errors": [{"type": "js_error"}],
}


# --- The doc ------------------------------------------------------------------------


def _section(title: str) -> list[str]:
    """The lines under the ``## title`` heading, up to the next ``## `` heading."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {title}") + 1
    end = next(
        (index for index in range(start, len(lines)) if lines[index].startswith("## ")),
        len(lines),
    )
    return lines[start:end]


def _cells(line: str) -> list[str]:
    """A Markdown table row's cells; ``\\|`` is a literal ``|`` inside a cell."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def _rows(title: str, header: list[str]) -> list[list[str]]:
    """The body rows of every table in a section whose header row is ``header``."""
    rows: list[list[str]] = []
    current: list[list[str]] | None = None
    for line in _section(title):
        if not line.strip().startswith("|"):
            current = None
            continue
        cells = _cells(line)
        if current is None:  # a table's first row is its header
            current = rows if cells == header else []
        elif not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            current.append(cells)
    return rows


def _name(cell: str) -> str:
    match = NAME.fullmatch(cell)
    assert match, f"not one backticked metric name: {cell!r}"
    return match[1]


def _families(title: str) -> dict[str, str]:
    """Each family a part's tables list, by text-format name, with its documented type."""
    rows = _rows(title, FAMILY_HEADER)
    assert all(len(cells) == len(FAMILY_HEADER) for cells in rows), (
        f"a family row in '{title}' does not have {len(FAMILY_HEADER)} cells"
    )
    names = [_name(cells[0]) for cells in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"listed more than once in '{title}': {duplicates}"
    return {_name(cells[0]): cells[1] for cells in rows}


def _documented_types(service: str) -> dict[str, str]:
    """The families the doc assigns to ``service``: the shared part and its own part."""
    shared, own = _families(SHARED), _families(PARTS[service])
    both = sorted(set(shared) & set(own))
    assert not both, f"listed under '{SHARED}' and under '{PARTS[service]}': {both}"
    return shared | own


def _documented_buckets(service: str) -> dict[str, list[float]]:
    """Each histogram's documented bucket bounds (without +Inf), for ``service``."""
    buckets: dict[str, list[float]] = {}
    for title in (SHARED, PARTS[service]):
        for cells in _rows(title, BUCKET_HEADER):
            assert len(cells) == len(BUCKET_HEADER), f"a bucket row has 2 cells: {cells}"
            names = NAME.findall(cells[0])
            assert names, f"a bucket row names no histogram: {cells}"
            bounds = [float(bound) for bound in cells[1].split("(")[0].split(",")]
            for name in names:
                assert name not in buckets, f"buckets of {name} listed more than once"
                buckets[name] = bounds
    return buckets


def _examples(title: str) -> list[tuple[str, str]]:
    """(metric, PromQL) for each row of a part's one-example-per-family tables."""
    examples = []
    for cells in _rows(title, EXAMPLE_HEADER):
        match = QUERY.match(cells[1]) if len(cells) == len(EXAMPLE_HEADER) else None
        assert match, f"the example for {cells[0]} is not one backticked query: {cells}"
        examples.append((_name(cells[0]), match["query"]))
    return examples


def _all_queries() -> list[str]:
    """Every PromQL query in the doc: the last cell of each table whose header ends in PromQL."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    queries: list[str] = []
    in_query_table = False
    header = True
    for line in lines:
        if not line.strip().startswith("|"):
            header = True
            continue
        cells = _cells(line)
        if header:
            in_query_table, header = cells[-1] == "PromQL", False
        elif in_query_table and not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            match = QUERY.match(cells[-1])
            assert match, f"not one backticked query: {cells}"
            queries.append(match["query"])
    return queries


# --- The live endpoints ---------------------------------------------------------------


@dataclass
class Scrape:
    """What one service's /api/metrics served in one format."""

    types: dict[str, str] = field(default_factory=dict)
    # Each histogram's bucket bounds as the endpoint spells them, +Inf left out.
    bounds: dict[str, set[str]] = field(default_factory=dict)


async def _scrape(client: httpx.AsyncClient) -> dict[str, Scrape]:
    scrapes = {}
    for name, accept in FORMATS.items():
        response = await client.get("/api/metrics", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith(accept.split(";")[0])
        parse = parse_openmetrics if name == "openmetrics" else parse_text
        scrape = Scrape()
        for family in parse(response.text):
            # Both parsers name a counter family without _total; its samples carry it.
            served_name = family.name + ("_total" if family.type == "counter" else "")
            scrape.types[served_name] = family.type
            if family.type == "histogram":
                scrape.bounds[family.name] = {
                    sample.labels["le"]
                    for sample in family.samples
                    if sample.name == f"{family.name}_bucket" and sample.labels["le"] != "+Inf"
                }
        scrapes[name] = scrape
    return scrapes


async def _scrape_api(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]
) -> dict[str, Scrape]:
    """folio-api's /api/metrics in each format, after some traffic."""
    async with app.router.lifespan_context(app):
        assert (await client.get("/api/projects")).status_code == 200
        assert (await client.get("/api/projects/no-such-project")).status_code == 404
        assert (await client.get("/no/such/path")).status_code == 404
        created = await client.post("/api/projects", json=project_payload("docs"), headers=auth)
        assert created.status_code == 201, created.text
        return await _scrape(client)


async def _scrape_web(api: FastAPI) -> dict[str, Scrape]:
    """folio-web's /api/metrics in each format, after pages and a beacon; its API is ``api``."""
    web = create_web_app(WebSettings(), api_transport=httpx.ASGITransport(app=api))
    transport = httpx.ASGITransport(app=web)
    try:
        async with (
            web.router.lifespan_context(web),
            httpx.AsyncClient(transport=transport, base_url=SITE) as site,
        ):
            assert (await site.get("/")).status_code == 200
            assert (await site.get("/projects/no-such-project")).status_code == 404
            beacon = await site.post(
                "/api/rum",
                content=json.dumps(BEACON),
                headers={"Origin": SITE, "Content-Type": "text/plain"},
            )
            assert beacon.status_code == 204, beacon.text
            return await _scrape(site)
    finally:
        await web.state.api.aclose()


@pytest.fixture(params=sorted(PARTS))
async def served(
    request: pytest.FixtureRequest, app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]
) -> tuple[str, dict[str, Scrape]]:
    """(service, what its /api/metrics served in each format), for each service."""
    service: str = request.param
    if service == "folio-api":
        return service, await _scrape_api(app, client, auth)
    return service, await _scrape_web(app)


# --- The tests ------------------------------------------------------------------------


async def test_doc_lists_exactly_the_served_families(
    served: tuple[str, dict[str, Scrape]],
) -> None:
    """Every family a service serves is in the doc's parts for it, and nothing else is."""
    service, scrapes = served
    documented = set(_documented_types(service))
    for name, scrape in scrapes.items():
        served_names = set(scrape.types)
        missing, extra = sorted(served_names - documented), sorted(documented - served_names)
        assert not missing, f"{service} serves ({name}) but docs/metrics.md lacks: {missing}"
        assert not extra, f"docs/metrics.md assigns to {service}, not served ({name}): {extra}"


async def test_doc_types_match_the_served_types(served: tuple[str, dict[str, Scrape]]) -> None:
    """Each family's documented type is the type the service's endpoint declares for it."""
    service, scrapes = served
    documented = _documented_types(service)
    for name, scrape in scrapes.items():
        wrong = {
            family: (documented[family], kind)
            for family, kind in scrape.types.items()
            if family in documented and documented[family] != kind
        }
        assert not wrong, f"{service}: (documented, served {name}) types differ: {wrong}"


async def test_doc_buckets_match_the_served_buckets(
    served: tuple[str, dict[str, Scrape]],
) -> None:
    """Each histogram the service serves has a bucket row, with exactly its bounds."""
    service, scrapes = served
    documented = _documented_buckets(service)
    for name, scrape in scrapes.items():
        assert sorted(documented) == sorted(scrape.bounds), (
            f"{service} ({name}): histograms served {sorted(scrape.bounds)}, "
            f"bucket rows for {sorted(documented)}"
        )
        for histogram, bounds in scrape.bounds.items():
            assert bounds, f"{service} ({name}): {histogram} has no buckets; send it traffic"
            assert sorted(float(bound) for bound in bounds) == documented[histogram], (
                f"{service} ({name}): {histogram} serves {sorted(bounds, key=float)}, "
                f"docs/metrics.md says {documented[histogram]}"
            )


async def test_example_le_values_are_served_bounds(
    served: tuple[str, dict[str, Scrape]],
) -> None:
    """A query that picks one bucket spells its le as served, e.g. "4.0" and not "4"."""
    service, scrapes = served
    own = set(_documented_types(service))
    for query in _all_queries():
        for selector in BUCKET_SELECTOR.finditer(query):
            family = selector["family"]
            if family not in own:
                continue
            for le in LE_MATCHER.finditer(selector["matchers"]):
                for name, scrape in scrapes.items():
                    assert le["le"] in scrape.bounds[family], (
                        f"{service} ({name}) serves no {family}_bucket{{le={le['le']!r}}} "
                        f"(it has {sorted(scrape.bounds[family], key=float)}): {query}"
                    )


@pytest.mark.parametrize("title", [SHARED, *PARTS.values()])
def test_each_family_has_one_example_about_it(title: str) -> None:
    """Each part's example table has one query per family of that part, using that family."""
    examples = _examples(title)
    names = [name for name, _ in examples]
    families = sorted(_families(title))
    assert sorted(names) == families, (
        f"'{title}': families without an example: {sorted(set(families) - set(names))}; "
        f"examples without a family, or repeated: {sorted(set(names) - set(families))}, "
        f"{sorted({name for name in names if names.count(name) > 1})}"
    )
    about_other = [name for name, query in examples if name not in query]
    assert not about_other, f"these examples do not query their own metric: {about_other}"


def test_every_example_query_parses(tmp_path: Path) -> None:
    """`promtool check rules` accepts every query in the doc as a recording rule."""
    queries = _all_queries()
    assert len(queries) > sum(len(_examples(title)) for title in (SHARED, *PARTS.values()))
    rules = [
        {"record": f"docs:example_{index}", "expr": query}
        for index, query in enumerate(queries, start=1)
    ]
    path = tmp_path / "docs_examples.rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "docs", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def _documented_native() -> dict[str, str]:
    """Each family the doc marks native, and which service serves it."""
    rows = _rows(NATIVE, NATIVE_HEADER)
    assert rows, f"docs/metrics.md has no table under '## {NATIVE}'"
    return {_name(cells[0]): cells[1] for cells in rows}


async def test_doc_marks_exactly_the_native_families(app: FastAPI) -> None:
    """The native table lists each family either service counts natively, and no other."""
    web = create_web_app(WebSettings())
    try:
        native = {
            service: {
                name
                for name, family in registry.families.items()
                if getattr(family, "native", None) is not None
            }
            for service, registry in (
                ("folio-api", app.state.observability.registry),
                ("folio-web", web.state.observability.registry),
            )
        }
    finally:
        await web.state.api.aclose()
    served_by = {
        name: (
            "both"
            if name in native["folio-api"] and name in native["folio-web"]
            else "folio-api"
            if name in native["folio-api"]
            else "folio-web"
        )
        for name in native["folio-api"] | native["folio-web"]
    }
    assert _documented_native() == served_by
    assert set(served_by) == NATIVE_HISTOGRAMS, "folio.dashboards.promql.NATIVE_HISTOGRAMS"


def _doc_queries() -> list[str]:
    """The PromQL of every doc page that ships queries: tables, blocks and code spans."""
    queries = list(_all_queries())
    for page in ("queries.md", "runbook.md", "dashboards.md", "metrics.md"):
        text = (DOCS / page).read_text(encoding="utf-8")
        queries += re.findall(r"```promql\n(.*?)```", text, flags=re.S)
        spans = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", re.sub(r"```.*?```", "", text, flags=re.S))
        queries += [span for span in spans if "(" in span]
    return queries


def test_doc_queries_read_native_histograms_in_both_forms() -> None:
    """Each documented query on a native family reads its native series and classic ones."""
    queries = _doc_queries()
    assert len(queries) > 100
    assert one_sided(queries) == []
