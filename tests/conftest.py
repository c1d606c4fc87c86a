"""Shared fixtures: a throwaway database per backend (SQLite and real PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from playwright.sync_api import Browser
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from folio.api.app import create_app
from folio.api.db import create_engine
from folio.api.migrate import upgrade
from folio.api.settings import ApiSettings
from tests.browser import artifacts_directory, chromium

POSTGRES_URL_VARIABLE = "FOLIO_TEST_POSTGRES_URL"
TOKEN = "test-token-0123456789"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_admin_url() -> str:
    """The admin URL of the test server; fail in CI, skip (saying why) elsewhere."""
    url = os.environ.get(POSTGRES_URL_VARIABLE, "")
    if url:
        return url
    reason = (
        f"{POSTGRES_URL_VARIABLE} is not set; point it at a PostgreSQL server whose user "
        "may CREATE DATABASE (.ci/run starts one and sets it)"
    )
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


async def _as_admin(admin_url: str, statement: str) -> None:
    """Run one statement outside a transaction, as CREATE/DROP DATABASE require."""
    engine = create_async_engine(
        ApiSettings(database_url=admin_url).database_url, isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _migrate(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _postgres_database() -> Iterator[str]:
    admin_url = _postgres_admin_url()
    name = f"folio_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_as_admin(admin_url, f'CREATE DATABASE "{name}"'))
    except Exception as error:
        message = f"cannot create a database on {POSTGRES_URL_VARIABLE}: {error}"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    url = ApiSettings(database_url=admin_url).database_url
    database_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_migrate(database_url))
        yield database_url
    finally:
        asyncio.run(_as_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, throwaway database for the whole run, dropped at the end."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "folio.db"
        url = f"sqlite+aiosqlite:///{path}"
        asyncio.run(_migrate(url))
        yield url
    else:
        yield from _postgres_database()


@pytest.fixture
def settings(database_url: str) -> ApiSettings:
    return ApiSettings(database_url=database_url, api_token=TOKEN)


@pytest.fixture
async def app(settings: ApiSettings) -> AsyncIterator[FastAPI]:
    """A fresh app over an emptied database."""
    app = create_app(settings)
    async with app.state.engine.begin() as connection:
        await connection.execute(text("DELETE FROM project_tags"))
        await connection.execute(text("DELETE FROM projects"))
    yield app
    await app.state.engine.dispose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
        yield client


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say plainly how many tests ran against the real PostgreSQL server."""
    passed = terminalreporter.stats.get("passed", [])
    on_postgres = [report for report in passed if "postgresql" in report.nodeid]
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if "postgresql" in r.nodeid]
    terminalreporter.write_sep("-", "PostgreSQL")
    terminalreporter.write_line(
        f"{len(on_postgres)} tests passed against a real PostgreSQL server; "
        f"{len(skipped)} PostgreSQL tests skipped"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (tests/browser.py)."""
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def artifacts() -> Path:
    """Where browser tests save screenshots."""
    return artifacts_directory()
