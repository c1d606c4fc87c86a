"""schemathesis against folio-api's own /api/openapi.json: no 500s, and every response
(status code, content type, headers, body) is one the document declares.

folio-api runs in-process over a migrated, seeded SQLite file, with its lifespan, and every
call carries the write token, so creates, updates and deletes are exercised beyond 403.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.python import asgi

from folio.api.app import create_app
from folio.api.db import create_engine, create_session_factory
from folio.api.migrate import upgrade
from folio.api.seed import seed
from folio.api.settings import ApiSettings
from tests.reliability.fuzz_profiles import fuzz_profile
from tests.reliability.soak import amount

TOKEN = "contract-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _migrate_and_seed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with create_session_factory(engine)() as session:
            await seed(session)
    finally:
        await engine.dispose()


# The app is built at import, because schemathesis needs it when it parametrizes the test
# (schemathesis.pytest.from_fixture would defer that, but does not work with pytest 9.2, whose
# nodes have no `_nodeid` any more). Its database is migrated and seeded by the fixture below,
# before the first request.
DIRECTORY = Path(tempfile.mkdtemp(prefix="folio-contract-"))
atexit.register(shutil.rmtree, DIRECTORY, ignore_errors=True)
APP = create_app(
    ApiSettings(database_url=f"sqlite+aiosqlite:///{DIRECTORY}/folio.db", api_token=TOKEN)
)
# Every check runs, but one: negative_data_rejection wants each schema-violating request
# refused, and folio-api is deliberately more lenient than JSON Schema can say in a few
# places: HttpUrl takes internationalised URLs (IRIs, which "format": "uri" excludes) and
# trims surrounding spaces, a title's 200 characters are counted after stripping, and a
# repeated query parameter takes its last value. Schema-violating requests are still sent:
# their answers must be documented, well-formed, and never a 5xx.
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"enabled": False}}})
schema = schemathesis.openapi.from_dict(APP.openapi(), config=CONFIG)
schema.app = APP  # as schemathesis.openapi.from_asgi() does: requests and probes go to APP


@pytest.fixture(scope="module", autouse=True)
def database() -> Iterator[None]:
    """A fresh, seeded SQLite file for APP; its lifespan (started by schemathesis) ends after."""
    asyncio.run(_migrate_and_seed(APP.state.settings.database_url))
    yield
    asgi.shutdown_lifespans()  # schemathesis started it on the first call


@schema.parametrize()
@settings(fuzz_profile(), max_examples=amount(50, 1_000))
def test_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    """Every generated request gets a documented status, content type and body, and no 5xx."""
    case.call_and_validate(headers=AUTH)


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
    """Every $ref resolves, operation ids are unique, and no generating it warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        document = create_app(ApiSettings(database_url="sqlite+aiosqlite:///:memory:")).openapi()
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


def test_database_routes_document_503() -> None:
    """Each operation on projects documents the 503 (with Retry-After) of a database outage."""
    paths = APP.openapi()["paths"]
    for path in ("/api/projects", "/api/projects/{slug}"):
        for method, operation in paths[path].items():
            unavailable = operation["responses"].get("503")
            assert unavailable is not None, f"{method.upper()} {path}"
            assert "Retry-After" in unavailable["headers"]
