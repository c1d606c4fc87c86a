"""Alembic environment: runs on the connection that folio.api.migrate hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from folio.api.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `folio db upgrade` (folio.api.migrate.upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
