"""The largest body a request schema allows, so that the body cap never refuses a valid one."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from folio.api.schemas import ProjectCreate, ProjectUpdate

# JSON Schema's maxLength counts code points, and the longest any JSON encoder writes one
# is a character outside the BMP escaped as a surrogate pair: "\ud83d\ude00".
ESCAPED_CHARACTER_BYTES = 12
# ", " between items and ": " after a key, as Python's json.dumps writes them by default.
SEPARATOR_BYTES = 2
# Insignificant whitespace has no bound in JSON; this much beyond the separators' is allowed,
# which covers any indentation a pretty-printer gives a body of this shape many times over.
WHITESPACE_ALLOWANCE_BYTES = 64 * 1024
MIB = 1024 * 1024
# Every model a request body is validated against.
BODY_MODELS: tuple[type[BaseModel], ...] = (ProjectCreate, ProjectUpdate)


class UnboundedSchemaError(ValueError):
    """A schema that lets a valid body be arbitrarily large."""


def largest_encoding(schema: dict[str, Any], definitions: dict[str, Any] | None = None) -> int:
    """The most bytes a JSON value valid under ``schema`` takes, whatever the encoder escapes.

    Strings count every character at 12 bytes, keys included; no duplicate keys; one
    separator's worth of whitespace. Anything without an upper bound raises.
    """
    if definitions is None:
        definitions = schema.get("$defs", {})
    if "$ref" in schema:
        return largest_encoding(definitions[schema["$ref"].removeprefix("#/$defs/")], definitions)
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        return max(largest_encoding(branch, definitions) for branch in branches)
    if "const" in schema:
        return _value_size(schema["const"])
    if "enum" in schema:
        return max(_value_size(value) for value in schema["enum"])
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return max(largest_encoding({**schema, "type": kind}, definitions) for kind in kinds)
    if kinds == "string":
        return _string_size(_bound(schema, "maxLength"))
    if kinds == "boolean":
        return len("false")
    if kinds == "null":
        return len("null")
    if kinds == "integer":
        return max(len(str(int(_bound(schema, key)))) for key in ("minimum", "maximum"))
    if kinds == "array":
        return _sequence_size(
            [largest_encoding(schema.get("items", {}), definitions)] * _bound(schema, "maxItems")
        )
    if kinds == "object":
        return _object_size(schema, definitions)
    raise UnboundedSchemaError(f"no upper bound on the size of {schema!r}")


def _bound(schema: dict[str, Any], key: str) -> int:
    if key not in schema:
        raise UnboundedSchemaError(f"{schema!r} has no {key}")
    return int(schema[key])


def _string_size(characters: int) -> int:
    return 2 + ESCAPED_CHARACTER_BYTES * characters


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return _string_size(len(value))
    return len(json.dumps(value))


def _sequence_size(items: list[int]) -> int:
    """Brackets, the items, and a separator between each two."""
    return 2 + sum(items) + SEPARATOR_BYTES * max(len(items) - 1, 0)


def _object_size(schema: dict[str, Any], definitions: dict[str, Any]) -> int:
    if schema.get("additionalProperties", True) is not False or "patternProperties" in schema:
        raise UnboundedSchemaError(f"{schema.get('title', 'an object')} allows any property")
    members = [
        _string_size(len(name)) + SEPARATOR_BYTES + largest_encoding(value, definitions)
        for name, value in schema.get("properties", {}).items()
    ]
    return _sequence_size(members)


def largest_valid_body(models: tuple[type[BaseModel], ...] = BODY_MODELS) -> int:
    """The most bytes a request body valid under any of ``models`` takes, whitespace aside."""
    return max(largest_encoding(model.model_json_schema()) for model in models)


# The smallest cap under which every valid request fits, with the whitespace allowance.
REQUIRED_BODY_BYTES = largest_valid_body() + WHITESPACE_ALLOWANCE_BYTES
# The default cap: that, rounded up to whole MiB.
DEFAULT_MAX_BODY_BYTES = -(-REQUIRED_BODY_BYTES // MIB) * MIB
