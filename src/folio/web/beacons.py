"""Validate browser beacons: fixed names, range-checked values, nothing else gets through.

This is hostile ground: any client can POST anything. Only known names and types survive,
values must be finite and plausible, and the page path is never used as a label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MAX_ITEMS = 50
MAX_PAGE_LENGTH = 2048
# Beyond these a value is a clock bug or a forgery, not a measurement.
MAX_MILLISECONDS = 120_000.0
MAX_CLS = 10.0

VITALS = ("LCP", "INP", "CLS", "FCP", "TTFB")
ASSET_TYPES = ("script", "stylesheet", "image", "font", "other")
ERROR_TYPES = ("js_error", "unhandled_rejection", "resource_error")
_KEYS = {"page", "vitals", "resources", "errors"}


class InvalidBeacon(ValueError):
    """The beacon's shape is wrong; it is refused whole."""


@dataclass
class Beacon:
    """What survives validation: vitals in seconds (CLS unitless) and asset times in seconds."""

    page: str
    vitals: list[tuple[str, float]] = field(default_factory=list)
    assets: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dropped: int = 0


def parse_beacon(payload: Any) -> Beacon:
    """Check a decoded JSON beacon; raise InvalidBeacon, or drop bad items one by one."""
    if not isinstance(payload, dict) or not set(payload) <= _KEYS or "page" not in payload:
        raise InvalidBeacon("a beacon is an object with page, vitals, resources and errors")
    page = payload["page"]
    if not isinstance(page, str) or not page.startswith("/") or len(page) > MAX_PAGE_LENGTH:
        raise InvalidBeacon("page must be a path starting with '/'")
    beacon = Beacon(page)
    for item in _items(payload, "vitals"):
        _add_vital(beacon, item)
    for item in _items(payload, "resources"):
        _add_asset(beacon, item)
    for item in _items(payload, "errors"):
        if isinstance(item, dict) and set(item) == {"type"} and item["type"] in ERROR_TYPES:
            beacon.errors.append(item["type"])
        else:
            beacon.dropped += 1
    return beacon


def _items(payload: dict[str, Any], key: str) -> list[Any]:
    items = payload.get(key, [])
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise InvalidBeacon(f"{key} must be a list of at most {MAX_ITEMS} items")
    return items


def _add_vital(beacon: Beacon, item: Any) -> None:
    if not isinstance(item, dict) or set(item) != {"name", "value"} or item["name"] not in VITALS:
        beacon.dropped += 1
        return
    name = item["name"]
    limit = MAX_CLS if name == "CLS" else MAX_MILLISECONDS
    value = _plausible(item["value"], limit)
    if value is None:
        beacon.dropped += 1
    else:
        beacon.vitals.append((name, value if name == "CLS" else value / 1000.0))


def _add_asset(beacon: Beacon, item: Any) -> None:
    if not isinstance(item, dict) or set(item) != {"type", "duration"}:
        beacon.dropped += 1
        return
    value = _plausible(item["duration"], MAX_MILLISECONDS)
    if item["type"] not in ASSET_TYPES or value is None:
        beacon.dropped += 1
    else:
        beacon.assets.append((item["type"], value / 1000.0))


def _plausible(value: Any, limit: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    if math.isnan(number) or number < 0 or number > limit:
        return None
    return number
