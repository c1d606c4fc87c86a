"""Database metrics from engine events, for sync and async engines."""

from __future__ import annotations

from pathlib import Path

import pytest
from folio_metrics import MetricsRegistry, render
from folio_metrics.db import DatabaseMetrics
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine


def _count(registry: MetricsRegistry, operation: str) -> float:
    child = registry.families["db_queries"].children.get((operation,))
    return child.value if child is not None else 0


def test_sync_engine_counts_each_verb(tmp_path: Path) -> None:
    """select, insert, update, delete, begin, commit and rollback are each counted."""
    registry = MetricsRegistry()
    metrics = DatabaseMetrics(registry)
    engine = create_engine(f"sqlite:///{tmp_path}/db.sqlite")
    metrics.instrument(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        connection.execute(text("  update t SET x = 2"))
        connection.execute(text("SELECT x FROM t"))
        connection.execute(text("DELETE FROM t"))
    with engine.connect() as connection:
        connection.begin()
        connection.rollback()
    counts = {
        verb: _count(registry, verb) for verb in ("select", "insert", "update", "delete", "other")
    }
    assert counts == {"select": 1, "insert": 1, "update": 1, "delete": 1, "other": 1}
    assert _count(registry, "begin") == 2
    assert _count(registry, "commit") == 1
    assert _count(registry, "rollback") >= 1
    assert registry.families["db_query_duration_seconds"].children[("select",)].count == 1
    engine.dispose()


def test_failed_statements_are_counted_by_type(tmp_path: Path) -> None:
    """A failing statement increments the error counter with its exception class."""
    registry = MetricsRegistry()
    metrics = DatabaseMetrics(registry)
    engine = create_engine(f"sqlite:///{tmp_path}/db.sqlite")
    metrics.instrument(engine)
    with engine.connect() as connection, pytest.raises(OperationalError):
        connection.execute(text("SELECT * FROM missing_table"))
    errors = registry.families["db_query_errors"].children
    assert errors[("select", "OperationalError")].value == 1
    engine.dispose()


async def test_async_engine_counts_queries_per_request(tmp_path: Path) -> None:
    """Queries run under start()/finish() are attributed to that request's endpoint."""
    registry = MetricsRegistry()
    metrics = DatabaseMetrics(registry)
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/db.sqlite")
    metrics.instrument(engine)
    token = metrics.start()
    async with engine.connect() as connection:
        for _ in range(4):
            await connection.execute(text("SELECT 1"))
    metrics.finish(token, "/things")
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # outside any request
    per_request = registry.families["db_queries_per_request"].children[("/things",)]
    assert (per_request.count, per_request.sum) == (1, 4)
    assert _count(registry, "select") == 5
    await engine.dispose()


async def test_pool_gauges_report_the_queue_pool(tmp_path: Path) -> None:
    """in_use, idle and the pool's maximum appear for pools that report them."""
    registry = MetricsRegistry()
    metrics = DatabaseMetrics(registry)
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path}/db.sqlite", pool_size=3, max_overflow=2
    )
    metrics.instrument(engine)
    async with engine.connect() as held:
        await held.execute(text("SELECT 1"))
        text_output = render(registry).decode()
        assert 'db_pool_connections{state="in_use"} 1' in text_output
        assert "db_pool_max_connections 5" in text_output
    assert 'db_pool_connections{state="in_use"} 0' in render(registry).decode()
    await engine.dispose()
