"""Instant queries against a Prometheus that a test started."""

from __future__ import annotations

from typing import Any

import httpx


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    """The result of ``promql`` now; the query must succeed."""
    response = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=10)
    assert response.status_code == 200, (promql, response.text)
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def value(prometheus: str, promql: str) -> float:
    """The one sample ``promql`` returns now."""
    result = query(prometheus, promql)
    assert len(result) == 1, (promql, result)
    return float(result[0]["value"][1])
