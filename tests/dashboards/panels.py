"""Read the committed dashboards: their variables and every panel's queries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
LABEL_VALUES = re.compile(r"label_values\((?P<selector>.+), (?P<label>\w+)\)")
# What Grafana puts in place of its built-in interval variables; the test stack scrapes
# every second, so five minutes holds every sample loadgen caused.
BUILT_INS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    expr: str


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DASHBOARDS / name).read_text())
    return loaded


def names() -> list[str]:
    return sorted(path.name for path in DASHBOARDS.glob("*.json"))


def targets() -> Iterator[Target]:
    for name in names():
        for panel in load(name)["panels"]:
            for target in panel.get("targets", []):
                yield Target(name, panel["title"], target["expr"])


def query_variables(name: str) -> list[dict[str, Any]]:
    return [v for v in load(name)["templating"]["list"] if v["type"] == "query"]


def substitute(expr: str, values: dict[str, str]) -> str:
    """``expr`` with built-ins and ``$name`` variables replaced, longest names first."""
    for variable, value in BUILT_INS.items():
        expr = expr.replace(variable, value)
    for variable in sorted(values, key=len, reverse=True):
        expr = expr.replace(f"${variable}", values[variable])
    assert "$" not in expr, f"an unknown variable is left in {expr!r}"
    return expr
