"""Every panel of every dashboard returns data from the real Prometheus after loadgen."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.dashboards.panels import LABEL_VALUES, names, query_variables, substitute, targets
from tests.integration.conftest import Stack

# Grafana's "All": what a dashboard opened with its defaults sends for each variable.
ALL = ".*"
# The SLO panels read the 3 d recording rules, which are evaluated once a minute.
RULES_DEADLINE_SECONDS = 90


def _label_values(stack: Stack, selector: str, label: str) -> list[str]:
    response = httpx.get(
        f"{stack.prometheus}/api/v1/label/{label}/values",
        params={"match[]": selector},
        timeout=10,
    )
    assert response.status_code == 200, (selector, response.text)
    values: list[str] = response.json()["data"]
    return values


@pytest.mark.parametrize("name", names())
def test_every_variable_has_values(stack: Stack, name: str) -> None:
    """Each variable's label_values() query finds at least one value, as Grafana would."""
    for variable in query_variables(name):
        match = LABEL_VALUES.fullmatch(variable["query"]["query"])
        assert match, variable["query"]
        selector = substitute(match["selector"], {v["name"]: ALL for v in query_variables(name)})
        assert _label_values(stack, selector, match["label"]), (name, variable["name"])


def test_every_panel_query_returns_series(stack: Stack) -> None:
    """Each target expression runs without error and returns at least one series."""
    expressions = {
        (target.dashboard, target.panel, expr)
        for target in targets()
        for expr in [
            substitute(target.expr, {v["name"]: ALL for v in query_variables(target.dashboard)})
        ]
    }
    assert len(expressions) >= 40
    empty = sorted(expressions)
    deadline = time.monotonic() + RULES_DEADLINE_SECONDS
    while empty and time.monotonic() < deadline:
        empty = [(d, p, expr) for d, p, expr in empty if not stack.query(expr)]
        if empty:
            time.sleep(2)
    assert empty == []
