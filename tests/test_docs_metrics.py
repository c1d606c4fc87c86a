"""docs/metrics.md against the live /api/metrics: the same families, and PromQL that parses."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from tests.factories import project_payload
from tests.metrics.promtool import promtool

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
FAMILIES_SECTION = "Metric families"
EXAMPLES_SECTION = "Example queries"
# A table row whose first cell is a backticked metric name: | `name` | ... |
ROW = re.compile(r"^\|\s*`(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|(?P<rest>.*)\|\s*$")
QUERY = re.compile(r"^`(?P<query>[^`]+)`$")
FORMATS = {
    "text": "text/plain; version=0.0.4",
    "openmetrics": "application/openmetrics-text; version=1.0.0",
}


def _section(title: str) -> list[str]:
    """The lines under the ``## title`` heading, up to the next ``## `` heading."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {title}") + 1
    end = next(
        (index for index in range(start, len(lines)) if lines[index].startswith("## ")),
        len(lines),
    )
    return lines[start:end]


def _rows(title: str) -> list[tuple[str, list[str]]]:
    """(metric name, the other cells) for each metric row of the tables in a section."""
    rows = []
    for line in _section(title):
        match = ROW.match(line.strip())
        if match:
            cells = [cell.strip() for cell in match["rest"].split("|")]
            rows.append((match["name"], cells))
    return rows


def _documented_types() -> dict[str, str]:
    """Each family the doc's tables list, by text-format name, with its documented type."""
    rows = _rows(FAMILIES_SECTION)
    names = [name for name, _ in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"listed more than once in docs/metrics.md: {duplicates}"
    assert all(len(cells) == 4 for _, cells in rows), "each family row has 5 columns"
    return {name: cells[0] for name, cells in rows}


def _examples() -> list[tuple[str, str]]:
    """(metric, PromQL) for each row of the doc's example table."""
    examples = []
    for name, cells in _rows(EXAMPLES_SECTION):
        match = QUERY.match(cells[0]) if len(cells) == 1 else None
        assert match, f"the example for {name} is not one backticked query: {cells}"
        examples.append((name, match["query"]))
    return examples


async def _served_types(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]
) -> dict[str, dict[str, str]]:
    """After some traffic, each family /api/metrics serves in each format, with its type."""
    served: dict[str, dict[str, str]] = {}
    async with app.router.lifespan_context(app):
        assert (await client.get("/api/projects")).status_code == 200
        assert (await client.get("/api/projects/no-such-project")).status_code == 404
        assert (await client.get("/no/such/path")).status_code == 404
        created = await client.post("/api/projects", json=project_payload("docs"), headers=auth)
        assert created.status_code == 201, created.text
        for name, accept in FORMATS.items():
            response = await client.get("/api/metrics", headers={"Accept": accept})
            assert response.status_code == 200
            assert response.headers["content-type"].startswith(accept.split(";")[0])
            parse = parse_openmetrics if name == "openmetrics" else parse_text
            # Both parsers name a counter family without _total; its samples carry it.
            served[name] = {
                family.name + ("_total" if family.type == "counter" else ""): family.type
                for family in parse(response.text)
            }
    return served


async def test_doc_lists_exactly_the_served_families(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Every family /api/metrics serves is in the doc's tables, and nothing else is."""
    documented = set(_documented_types())
    for name, families in (await _served_types(app, client, auth)).items():
        served = set(families)
        missing, extra = sorted(served - documented), sorted(documented - served)
        assert not missing, f"served ({name}) but not in docs/metrics.md: {missing}"
        assert not extra, f"in docs/metrics.md but not served ({name}): {extra}"


async def test_doc_types_match_the_served_types(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """Each family's documented type is the type the endpoint declares for it."""
    documented = _documented_types()
    for name, families in (await _served_types(app, client, auth)).items():
        wrong = {
            family: (documented[family], kind)
            for family, kind in families.items()
            if family in documented and documented[family] != kind
        }
        assert not wrong, f"(documented, served {name}) types differ: {wrong}"


def test_each_family_has_one_example_about_it() -> None:
    """The example table has exactly one query per documented family, and it uses that family."""
    examples = _examples()
    names = [name for name, _ in examples]
    families = sorted(_documented_types())
    assert sorted(names) == families, (
        f"families without an example: {sorted(set(families) - set(names))}; "
        f"examples without a family, or repeated: {sorted(set(names) - set(families))}, "
        f"{sorted({name for name in names if names.count(name) > 1})}"
    )
    about_other = [name for name, query in examples if name not in query]
    assert not about_other, f"these examples do not query their own metric: {about_other}"


def test_every_example_query_parses(tmp_path: Path) -> None:
    """`promtool check rules` accepts every example query as a recording rule."""
    examples = _examples()
    assert examples, "docs/metrics.md has no example queries"
    rules = [
        {"record": f"docs:example_{index}", "expr": query}
        for index, (_, query) in enumerate(examples, start=1)
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
