"""The body cap fits every request /api/openapi.json calls valid, however its client escapes.

The cap is computed from the request schemas; bodies are sent to a real `folio api`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from folio.api.app import create_app
from folio.api.request_size import (
    DEFAULT_MAX_BODY_BYTES,
    REQUIRED_BODY_BYTES,
    WHITESPACE_ALLOWANCE_BYTES,
    UnboundedSchemaError,
    largest_encoding,
    largest_valid_body,
)
from folio.api.schemas import MAX_TAGS, MAX_URL_LENGTH, ProjectCreate
from folio.api.settings import ApiSettings
from tests.ports import free_port
from tests.processes import Service, running, wait_until

TOKEN = "body-cap-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
README = Path(__file__).resolve().parents[2] / "README.md"
EMOJI = "\U0001f600"  # one character to maxLength, 12 bytes escaped as a surrogate pair


def _longest(field: str) -> int:
    return int(ProjectCreate.model_json_schema()["properties"][field]["maxLength"])


def _worst_case(slug: str) -> dict[str, Any]:
    """A valid project with every field at its longest, text all characters outside the BMP."""
    url = "https://example.com/"
    url += EMOJI * (MAX_URL_LENGTH - len(url))
    return {
        "slug": slug + "-" + "x" * (_longest("slug") - len(slug) - 1),
        "title": EMOJI * _longest("title"),
        "summary": EMOJI * _longest("summary"),
        "body": EMOJI * _longest("body"),
        "tags": [f"{index:02d}" + "t" * 38 for index in range(MAX_TAGS)],
        "links": {"repository": url, "demo": url},
        "published": True,
    }


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """`folio api` as shipped, FOLIO_MAX_BODY_BYTES unset, over a fresh SQLite file."""
    directory = tmp_path_factory.mktemp("body-cap")
    settings = {
        "FOLIO_DATABASE_URL": f"sqlite+aiosqlite:///{directory}/folio.db",
        "FOLIO_API_TOKEN": TOKEN,
    }
    environment_cap = os.environ.get("FOLIO_MAX_BODY_BYTES")
    assert environment_cap is None, "these tests need the default cap"
    with running("api", free_port(), settings, directory / "api.log") as service:
        wait_until(service, "/api/health")
        yield service


def test_a_worst_case_body_is_within_the_computed_bound() -> None:
    """The largest valid body json.dumps writes is valid and no larger than the bound."""
    payload = _worst_case("bound")
    encoded = json.dumps(payload)
    ProjectCreate.model_validate_json(encoded)
    assert len(encoded) <= largest_valid_body()
    # Tight: only ASCII slugs, tags, URL prefixes and keys take less than counted.
    assert len(encoded) > 0.98 * largest_valid_body()
    assert largest_valid_body() + WHITESPACE_ALLOWANCE_BYTES == REQUIRED_BODY_BYTES
    assert REQUIRED_BODY_BYTES <= DEFAULT_MAX_BODY_BYTES


def test_every_request_body_in_the_document_fits() -> None:
    """Each request body /api/openapi.json declares is bounded, and within the cap."""
    document = create_app(ApiSettings(database_url="sqlite+aiosqlite:///:memory:")).openapi()
    bodies = [
        operation["requestBody"]["content"]["application/json"]["schema"]
        for path in document["paths"].values()
        for operation in path.values()
        if "requestBody" in operation
    ]
    assert len(bodies) == 2  # create and update
    for schema in bodies:
        assert largest_encoding(schema) + WHITESPACE_ALLOWANCE_BYTES <= REQUIRED_BODY_BYTES


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string"},
        {"type": "array", "items": {"type": "boolean"}},
        {"type": "object", "properties": {"a": {"type": "null"}}},
        {"type": "number", "maximum": 1},
    ],
)
def test_an_unbounded_schema_cannot_get_a_cap(schema: dict[str, Any]) -> None:
    """A schema change that lifts a bound fails loudly instead of leaving the cap behind."""
    with pytest.raises(UnboundedSchemaError):
        largest_encoding(schema)


def test_the_readme_states_the_computed_figures() -> None:
    """The README's figures are the computed ones."""
    text = README.read_text()
    assert f"{largest_valid_body():,} bytes" in text
    assert f"that sum, {REQUIRED_BODY_BYTES}," in text
    assert f"| `FOLIO_MAX_BODY_BYTES` | `{DEFAULT_MAX_BODY_BYTES}` |" in text


def test_a_cap_below_the_schema_is_refused() -> None:
    """A cap under the largest valid body is a configuration error naming both numbers."""
    with pytest.raises(ValidationError) as refused:
        ApiSettings(max_body_bytes=REQUIRED_BODY_BYTES - 1)
    assert str(REQUIRED_BODY_BYTES - 1) in str(refused.value)
    assert str(REQUIRED_BODY_BYTES) in str(refused.value)
    assert ApiSettings(max_body_bytes=REQUIRED_BODY_BYTES).max_body_bytes == REQUIRED_BODY_BYTES


def test_folio_api_refuses_to_start_with_a_cap_below_the_schema(tmp_path: Path) -> None:
    """`folio api` with the old 1 MiB cap exits 2 with one line naming both numbers."""
    result = subprocess.run(
        [sys.executable, "-m", "folio", "api", "--port", str(free_port())],
        env={
            **os.environ,
            "FOLIO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/folio.db",
            "FOLIO_MAX_BODY_BYTES": "1048576",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "FOLIO_MAX_BODY_BYTES" in result.stderr
    assert "1048576" in result.stderr
    assert str(REQUIRED_BODY_BYTES) in result.stderr
    assert "Traceback" not in result.stderr


def _post(api: Service, content: bytes) -> httpx.Response:
    return httpx.post(f"{api.url}/api/projects", content=content, headers=AUTH, timeout=60)


def test_cjk_body_escaped_by_json_dumps_is_created(api: Service) -> None:
    """200,000 times "文" is valid; json.dumps's \\u escapes make it 1.2 MB, and it is 201."""
    payload = {"slug": "cjk", "title": "CJK", "body": "文" * _longest("body")}
    content = json.dumps(payload).encode()
    assert len(content) > 1_200_000  # over the old 1 MiB default; 600 KB unescaped
    response = _post(api, content)
    assert response.status_code == 201, response.text[:300]
    read = httpx.get(f"{api.url}/api/projects/cjk", headers=AUTH, timeout=30)
    assert read.json()["body"] == payload["body"]


@pytest.mark.parametrize("indent", [None, 4])
def test_worst_case_emoji_body_is_created(api: Service, indent: int | None) -> None:
    """Every field at its longest, all emoji, escaped (and pretty-printed): 201, intact."""
    payload = _worst_case("emoji-indented" if indent else "emoji-compact")
    content = json.dumps(payload, indent=indent).encode()
    response = _post(api, content)
    assert response.status_code == 201, response.text[:300]
    read = httpx.get(f"{api.url}/api/projects/{payload['slug']}", headers=AUTH, timeout=30)
    assert read.status_code == 200, read.text[:300]
    assert read.json()["body"] == payload["body"]


def test_a_body_at_the_cap_is_read_and_one_over_it_is_413(api: Service) -> None:
    """Padded with whitespace to exactly the cap, a project is created; one byte more, 413."""
    content = json.dumps({"slug": "at-cap", "title": "At the cap"}).encode()
    at_cap = content + b" " * (DEFAULT_MAX_BODY_BYTES - len(content))
    assert _post(api, at_cap).status_code == 201
    over = _post(api, content.replace(b"at-cap", b"over-cap") + b" " * DEFAULT_MAX_BODY_BYTES)
    assert over.status_code == 413
    assert over.json()["error"] == {
        "code": "payload_too_large",
        "message": f"the request body is larger than the limit of {DEFAULT_MAX_BODY_BYTES} bytes",
        "details": {"max_body_bytes": DEFAULT_MAX_BODY_BYTES},
    }
    missing = httpx.get(f"{api.url}/api/projects/over-cap", headers=AUTH, timeout=30)
    assert missing.status_code == 404
