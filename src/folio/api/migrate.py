"""Apply folio's Alembic migrations to a database."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``; running it again changes nothing."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_on, revision)


def _upgrade_on(connection: Connection, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(files("folio.api") / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
