"""bench.instructions counts what it says, repeatably, and takes away one part at a time."""

from __future__ import annotations

from typing import Any

import pytest
from bench.instruction_items import STEPS
from bench.instructions import (
    PARTS,
    VARIANTS,
    count,
    missing_tools,
    summarise,
    variant_app,
    variant_scope,
)
from bench.middleware_cost import batch
from bench.overhead_report import verdict
from folio_metrics import MetricsMiddleware
from folio_metrics.exposition import render
from folio_metrics.routes import StarletteRouteResolver

from tests.ci import unavailable
from tests.processes import counter


@pytest.mark.parametrize("variant", VARIANTS)
async def test_every_variant_answers_and_folio_lacks_only_its_named_part(variant: str) -> None:
    app: Any = variant_app(variant)
    answers: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answers.append(message["status"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    await app(variant_scope(variant), receive, send)
    assert answers == [200], variant
    await batch(app, 2, variant_scope(variant))
    if not variant.startswith("folio"):
        assert not isinstance(app, MetricsMiddleware)
        return
    assert isinstance(app, MetricsMiddleware)
    text = render(app.metrics.registry).decode()
    labels = {"method": "GET", "endpoint": "/api/projects/{slug}", "status": "200"}
    assert counter(text, "http_requests_total", **labels) == 3, text
    kept = {
        "folio, no per-request query count": app.queries is not None,
        "folio, no exemplars": app.exemplars,
        "folio, no connection tracker": app.peers is not None,
        "folio, a fixed route template": isinstance(app.resolver, StarletteRouteResolver),
    }
    assert [part for part, there in kept.items() if not there] == (
        [variant] if variant in PARTS else []
    )


def test_counts_repeat_exactly_and_a_middleware_layer_costs_instructions() -> None:
    missing = missing_tools()
    if missing:
        unavailable(f"{' and '.join(missing)} not found: install Debian's valgrind and gcc")
    variants = ["none", "empty-middleware"]
    (first, no_steps), (second, _) = count(variants, 100), count(variants, 100)
    assert first == pytest.approx(second, rel=1e-3)
    assert first["empty-middleware"] - first["none"] > 500, first
    assert no_steps == {}


def test_each_step_is_counted_without_its_loop() -> None:
    missing = missing_tools()
    if missing:
        unavailable(f"{' and '.join(missing)} not found: install Debian's valgrind and gcc")
    per_call, steps = count(["folio"], 100, steps=True)
    assert list(steps) == [label for label, _ in STEPS]
    # Two clock reads are two C calls: more than nothing, far less than a whole request.
    assert 0 < steps["two clock reads"] < per_call["folio"] / 10, steps
    assert (
        steps["route lookup: resolver, exclusions and the route's children"]
        > (steps["  of which the route template resolver"])
    )


def test_parts_are_folio_minus_folio_without_them() -> None:
    counts = {"none": 10.0, "empty-middleware": 15.0, "folio": 100.0}
    counts |= {variant: 100.0 - 10 * (number + 1) for number, variant in enumerate(PARTS)}
    summary = summarise(counts)
    assert summary["folio_minus_empty"] == 85.0
    assert summary["empty_minus_none"] == 5.0
    assert list(summary["parts"].values()) == [10.0, 20.0, 30.0, 40.0]
    assert list(summary["parts"]) == list(PARTS.values())


def test_an_interval_that_holds_the_aim_is_unresolved() -> None:
    """A run meets the aim only when its whole interval does; a wide one cannot tell."""
    assert verdict({"median": 4.0, "low": 3.0, "high": 4.9}) is True
    assert verdict({"median": 4.0, "low": 3.0, "high": 6.0}) is None
    assert verdict({"median": -20.0, "low": -50.0, "high": 35.0}) is None
    assert verdict({"median": 8.0, "low": 5.1, "high": 9.0}) is False
