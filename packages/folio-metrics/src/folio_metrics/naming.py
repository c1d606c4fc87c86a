"""Metric and label names, label escaping and bucket checks: the exposition's rules."""

from __future__ import annotations

import math
from collections.abc import Sequence


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """The inside of a sample's braces, escaped once here so rendering only concatenates."""
    return ",".join(
        f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values, strict=True)
    )


def check_buckets(name: str, buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = tuple(float(bound) for bound in buckets if bound != math.inf)
    if not bounds:
        raise ValueError(f"{name}: a histogram needs at least one finite bucket")
    if any(math.isnan(bound) for bound in bounds) or list(bounds) != sorted(set(bounds)):
        raise ValueError(f"{name}: buckets must be strictly increasing numbers, got {buckets!r}")
    return bounds


def check_name(name: str) -> None:
    if (
        not name
        or not (name[0].isalpha() or name[0] in "_:")
        or not all(character.isalnum() or character in "_:" for character in name)
        or not name.isascii()
    ):
        raise ValueError(f"invalid metric name {name!r}: use [a-zA-Z_:][a-zA-Z0-9_:]*")


def check_label_name(name: str) -> None:
    if (
        not name
        or name.startswith("__")
        or not (name[0].isalpha() or name[0] == "_")
        or not all(character.isalnum() or character == "_" for character in name)
        or not name.isascii()
    ):
        raise ValueError(f"invalid label name {name!r}: use [a-zA-Z_][a-zA-Z0-9_]*, no '__' prefix")
