"""Read the database's content version, the number every project write changes, cheaply.

A read asks for it before it looks at its cache: a body built at another version is not
served. The cheapest correct query differs by backend:

- a SQLite file: a synchronous read on a connection of our own that never waits for a
  lock (a few microseconds, no hop to aiosqlite's thread); when a writer holds the lock
  it falls back to the engine, which waits as every other query does;
- a server (PostgreSQL): the driver's own call on a connection held for the purpose,
  bypassing SQLAlchemy, in rounds: every caller waiting when a round starts shares its
  answer, and a caller never joins a round that started before it asked.

A held connection exists only between ``start`` and ``stop`` (the app's lifespan); without
them (an app driven in-process by tests) each round borrows one from the engine's pool.

A version is only comparable within one *generation*: each time the probe opens its own
connection anew (after a failure, or because the SQLite file was replaced) the database may
be another one (a restored backup reuses version numbers), so the generation changes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

QUERY = "SELECT version FROM content_version WHERE id = 1"
# A server that stops answering must not hold every cached read (and shutdown) behind it.
DEFAULT_TIMEOUT_SECONDS = 1.0

Stamp = tuple[int, int]
"""(generation, content version): equal stamps mean the same data."""


class VersionProbe:
    """The current content version of one engine's database."""

    def __init__(self, engine: AsyncEngine, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self._engine = engine
        self._timeout = timeout
        self._sqlite_path = _sqlite_file(engine)
        self._sqlite: sqlite3.Connection | None = None
        self._inode: tuple[int, int] | None = None
        self._held: AsyncConnection | None = None
        self._driver: Any = None
        self._holding = False
        self._generation = 0
        self._next: asyncio.Future[Stamp] | None = None
        self._rounds: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Allow the probe to keep a connection open until ``stop``."""
        self._holding = True

    async def stop(self) -> None:
        """Close what the probe holds; later calls borrow from the pool."""
        self._holding = False
        if self._rounds is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._rounds
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        await self._release()

    async def current(self) -> int:
        """The version committed before this call began (or later); raises if unreadable."""
        return (await self.stamp())[1]

    async def stamp(self) -> Stamp:
        """The version as ``current`` reads it, with the generation it belongs to."""
        if self._sqlite_path is not None:
            await self._follow_sqlite_file()
            if self._holding:
                version = self._read_sqlite_now()
                if version is not None:
                    return (self._generation, version)
        loop = asyncio.get_running_loop()
        if self._next is None:
            self._next = loop.create_future()
        # Whatever ended the last task (even a cancellation), a waiting round gets one.
        if self._rounds is None or self._rounds.done():
            self._rounds = loop.create_task(self._run_rounds(), name="folio-content-version")
        # Shielded: one caller that gives up must not cancel the round the others wait for.
        return await asyncio.shield(self._next)

    async def _follow_sqlite_file(self) -> None:
        # Every connection stays on the inode it opened: a file replaced under the path
        # (a restored backup moved into place) would otherwise never be read.
        assert self._sqlite_path is not None
        try:
            info = os.stat(self._sqlite_path)
        except OSError:
            return
        inode = (info.st_dev, info.st_ino)
        if inode == self._inode:
            return
        known, self._inode = self._inode, inode
        if known is None:
            return
        self._generation += 1
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        # Connections checked in now are on the old file; those in use go when returned.
        await self._engine.dispose(close=True)

    def _read_sqlite_now(self) -> int | None:
        try:
            if self._sqlite is None:
                assert self._sqlite_path is not None
                # timeout=0: never block the event loop waiting for a writer's lock.
                # mode=rw: never create an empty file where the database should be.
                self._sqlite = sqlite3.connect(
                    f"{Path(self._sqlite_path).resolve().as_uri()}?mode=rw",
                    uri=True,
                    timeout=0,
                    isolation_level=None,
                    check_same_thread=False,
                )
            row = self._sqlite.execute(QUERY).fetchone()
        except sqlite3.Error:
            return None
        return int(row[0]) if row is not None else None

    async def _run_rounds(self) -> None:
        while self._next is not None:
            answer, self._next = self._next, None
            try:
                stamp = await self._fetch()
            except Exception as error:
                answer.set_exception(error)
                answer.exception()  # marked retrieved: its waiters may all have gone
            except BaseException:
                answer.cancel()
                # Callers who came meanwhile would otherwise wait on a round nobody runs.
                waiting, self._next = self._next, None
                if waiting is not None:
                    waiting.cancel()
                raise
            else:
                answer.set_result(stamp)

    async def _fetch(self) -> Stamp:
        if not self._holding or self._sqlite_path is not None:
            generation = self._generation
            return (generation, await asyncio.wait_for(self._borrowed_read(), self._timeout))
        try:
            if self._held is None:
                self._held = await asyncio.wait_for(self._engine.connect(), self._timeout)
                self._driver = (await self._held.get_raw_connection()).driver_connection
                # Maybe another database than before (a restore): older stamps never match.
                self._generation += 1
            generation = self._generation
            version = await asyncio.wait_for(_driver_read(self._driver), self._timeout)
            return (generation, version)
        except BaseException:
            await self._release(invalidate=True)
            raise

    async def _borrowed_read(self) -> int:
        async with self._engine.connect() as connection:
            return int((await connection.execute(text(QUERY))).scalar_one())

    async def _release(self, invalidate: bool = False) -> None:
        held, self._held, self._driver = self._held, None, None
        if held is None:
            return
        with contextlib.suppress(Exception):
            if invalidate:
                await asyncio.wait_for(held.invalidate(), self._timeout)
            await asyncio.wait_for(held.close(), self._timeout)


async def _driver_read(raw: Any) -> int:
    fetchval = getattr(raw, "fetchval", None)
    if fetchval is not None:  # asyncpg
        return int(await fetchval(QUERY))
    rows = await raw.execute_fetchall(QUERY)  # aiosqlite, if a SQLite file was not a path
    return int(rows[0][0])


def _sqlite_file(engine: AsyncEngine) -> str | None:
    """The path of a plain SQLite file database, or None (a server, memory, a URI)."""
    url = make_url(engine.url)
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or url.query:
        return None
    if database == ":memory:" or database.startswith("file:"):
        return None
    return database
