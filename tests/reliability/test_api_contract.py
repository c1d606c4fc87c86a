"""schemathesis against a real `folio api` and its own /api/openapi.json: every phase (the
stateful one included), every check, valid and schema-violating data, and no failure.

It runs schemathesis's own command line with tests/reliability/schemathesis.toml, as a
person would, against `folio api` over a migrated, seeded SQLite file; every request
carries the write token, so creates, updates and deletes are exercised beyond 403.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from folio.api.app import create_app
from folio.api.settings import ApiSettings
from tests.ports import free_port
from tests.processes import running, wait_until
from tests.reliability.soak import amount

TOKEN = "contract-test-token"
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Test cases per operation and phase: about a minute in `make test`, 10 under `make soak`.
MAX_EXAMPLES = amount(50, 1_000)


def _document() -> dict[str, Any]:
    app = create_app(ApiSettings(database_url="sqlite+aiosqlite:///:memory:"))
    return app.openapi()


def test_api_conforms_to_its_openapi_document(tmp_path: Path) -> None:
    """schemathesis, with everything on, finds no failure in a real folio-api."""
    settings = {
        "FOLIO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/folio.db",
        "FOLIO_API_TOKEN": TOKEN,
    }
    seed = [sys.executable, "-m", "folio", "db", "seed"]
    subprocess.run(seed, env=_environment(settings), check=True, capture_output=True, timeout=60)
    with running("api", free_port(), settings, tmp_path / "api.log") as api:
        wait_until(api, "/api/health")
        command = [
            *_schemathesis(),
            "--config-file",
            str(CONFIG),
            "run",
            f"{api.url}/api/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "1",
            "--output-truncate",
            "true",
        ]
        result = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=1_800, check=False
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, _failures(output)
    # The stateful phase ran and followed links from one call to the next.
    links = re.search(r"API Links:\s+(\d+) covered", output)
    assert links is not None, output[-3_000:]
    assert int(links[1]) > 0, output[-3_000:]


def _schemathesis() -> list[str]:
    return [str(Path(sys.executable).with_name("schemathesis"))]


def _environment(settings: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "FOLIO_LOG_LEVEL": "warning", **settings}


def _failures(output: str) -> str:
    """The report from its FAILURES section on, with every over-long line cut short."""
    start = output.find("FAILURES")
    report = output[start:] if start >= 0 else output[-5_000:]
    return "\n".join(line[:500] for line in report.splitlines())[:20_000]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_document_is_well_formed() -> None:
    """Every $ref resolves, operation ids are unique, links name real ones, and nothing warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        document = _document()
    for ref in _refs(document):
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, f"{ref} does not resolve"
            node = node[part]
    operations = [
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
    ]
    assert len(operations) == len(set(operations)), sorted(operations)
    linked = {
        link["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    }
    assert linked == {"get_project", "update_project", "delete_project"}
    assert linked <= set(operations)


def test_database_routes_document_503() -> None:
    """Each operation on projects documents the 503 (with Retry-After) of a database outage."""
    paths = _document()["paths"]
    for path in ("/api/projects", "/api/projects/{slug}"):
        for method, operation in paths[path].items():
            unavailable = operation["responses"].get("503")
            assert unavailable is not None, f"{method.upper()} {path}"
            assert "Retry-After" in unavailable["headers"]


@pytest.mark.parametrize("operation", ["create_project", "update_project"])
def test_writes_document_413(operation: str) -> None:
    """A write documents the 413 of a body over the cap, so a client knows it can happen."""
    operations = {
        found["operationId"]: found
        for path in _document()["paths"].values()
        for found in path.values()
    }
    assert "413" in operations[operation]["responses"]
