"""Add content_version: one row whose number changes in every transaction that writes projects.

Readers compare it with the number their cached responses were built at, so a write is
seen by every worker and every instance that shares the database at their next read.
Triggers bump it rather than application code, so that every write path is covered (the
API, `folio db seed`, SQL typed by hand), in the same transaction as the write.

It starts at a random number, so that a database dropped and created again does not
restart at a number a running server may have cached bodies for.

A later migration that rebuilds `projects` or `project_tags` in SQLite's batch mode drops
their triggers: it must create them again (`_create_sqlite_triggers`).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("projects", "project_tags")
_BUMP = "UPDATE content_version SET version = version + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "content_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "INSERT INTO content_version (id, version) "
            "VALUES (1, floor(random() * 1000000000000)::bigint)"
        )
        _create_postgresql_triggers()
    else:
        op.execute(
            "INSERT INTO content_version (id, version) VALUES (1, abs(random() % 1000000000000))"
        )
        _create_sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_content_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS folio_bump_content_version()")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_bumps_content_version")
    op.drop_table("content_version")


def _create_postgresql_triggers() -> None:
    # Statement-level: one bump per statement, however many rows it touches (TRUNCATE too).
    op.execute(
        "CREATE FUNCTION folio_bump_content_version() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN {_BUMP}; RETURN NULL; END $$"
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_bump_content_version "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION folio_bump_content_version()"
        )


def _create_sqlite_triggers() -> None:
    # SQLite has only row-level triggers; a bump per row costs little at a portfolio's size.
    for table in TABLES:
        for event in ("insert", "update", "delete"):
            op.execute(
                f"CREATE TRIGGER {table}_{event}_bumps_content_version "
                f"AFTER {event.upper()} ON {table} BEGIN {_BUMP}; END"
            )
