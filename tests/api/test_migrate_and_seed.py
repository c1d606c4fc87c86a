"""Migrations and demo data are idempotent on every backend."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from folio.api.migrate import upgrade
from folio.api.seed import DEMO_PROJECTS, seed


async def test_upgrade_twice_changes_nothing(app: FastAPI) -> None:
    """Running the migrations on an up-to-date database is a no-op at head."""
    engine = app.state.engine
    await upgrade(engine)
    await upgrade(engine)
    async with engine.connect() as connection:
        versions = (await connection.scalars(text("SELECT version_num FROM alembic_version"))).all()
    assert versions == ["0002"]


async def test_seed_is_idempotent(app: FastAPI) -> None:
    """The first seed adds every demo project; the second adds none."""
    async with app.state.session_factory() as session:
        first = await seed(session)
    async with app.state.session_factory() as session:
        second = await seed(session)
    assert first == [demo.slug for demo in DEMO_PROJECTS]
    assert second == []
    async with app.state.engine.connect() as connection:
        count = await connection.scalar(text("SELECT count(*) FROM projects"))
    assert count == len(DEMO_PROJECTS)


async def test_seed_keeps_edited_projects(app: FastAPI) -> None:
    """Seeding again does not overwrite a demo project that was edited since."""
    async with app.state.session_factory() as session:
        await seed(session)
    async with app.state.engine.begin() as connection:
        await connection.execute(text("UPDATE projects SET title = 'Mine now'"))
    async with app.state.session_factory() as session:
        await seed(session)
    async with app.state.engine.connect() as connection:
        titles = set((await connection.scalars(text("SELECT title FROM projects"))).all())
    assert titles == {"Mine now"}
