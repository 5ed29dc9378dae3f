"""Is the database's schema this bot's? One query answers it, without loading Alembic.

Alembic, with the Mako and Pygments it brings, is 11 MiB and a quarter of a second: a replica
starting on a database already at head, or a simulated week on a new file, has no use for it.
It is loaded (bot/store/migrate.py) only when a schema must change or be explained. A new
embedded SQLite file is built from the models and stamped at head in one transaction: Alembic's
own recipe for a new database ("create_all, then stamp head"). tests/store/test_migrations.py
holds the two to the same schema and ``HEAD_REVISION`` to Alembic's head.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Column, Connection, MetaData, PrimaryKeyConstraint, String, Table, inspect, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.db import SQLITE_BUSY_TIMEOUT_MS, create_engine_for, is_embedded_sqlite
from bot.store.db import SchemaBehind as SchemaBehind  # raised by migrate.py; callers know it from here
from bot.store.tables import Base

HEAD_REVISION = "0010"  # the newest file in bot/store/migrations/versions

# Alembic's own bookkeeping table, as its upgrade creates it.
_VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def read_schema(connection: Connection) -> tuple[tuple[str, ...], bool]:
    """The revisions recorded in the database (none for one never migrated) and whether it has any table."""
    tables = inspect(connection).get_table_names()
    if _VERSION_TABLE.name not in tables:
        return (), bool(tables)
    return tuple(connection.execute(select(_VERSION_TABLE.c.version_num)).scalars()), True


def _create_if_empty(connection: Connection) -> bool:
    """Build every table and record head, unless another process got there first; True if built."""
    revisions, has_tables = read_schema(connection)
    if revisions or has_tables:
        return False
    Base.metadata.create_all(connection)
    _VERSION_TABLE.create(connection)
    connection.execute(_VERSION_TABLE.insert().values(version_num=HEAD_REVISION))
    return True


async def _read_when_unlocked(engine: AsyncEngine) -> tuple[tuple[str, ...], bool]:
    """The schema's revisions and whether it has tables, from the first connection to the file.

    Connecting switches a SQLite file to WAL, and SQLite refuses that switch at once (its busy wait
    does not apply) while another process is creating the same new file: wait and try again, for
    at most the busy timeout, without blocking the event loop.
    """
    attempts = SQLITE_BUSY_TIMEOUT_MS // 50
    for attempt in range(attempts):
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read_schema)
        except OperationalError as error:
            if "database is locked" not in str(error) or attempt == attempts - 1:
                raise
            await engine.dispose()  # the refused connection is not reused
            await asyncio.sleep(0.05)
    raise AssertionError("unreachable")


async def ensure_schema(url: str, auto_upgrade: bool | None = None) -> None:
    """Make sure the schema is at head before the bot starts.

    ``auto_upgrade`` None means "only an embedded SQLite": a shared PostgreSQL is upgraded
    by a person (``ionbot db upgrade``), never behind the back of other replicas.
    """
    if auto_upgrade is None:
        auto_upgrade = is_embedded_sqlite(url)
    engine = create_engine_for(url)
    try:
        revisions, has_tables = await _read_when_unlocked(engine)
        if revisions == (HEAD_REVISION,):
            return
        if auto_upgrade and not revisions and not has_tables and is_embedded_sqlite(url):
            async with engine.begin() as connection:  # BEGIN IMMEDIATE: one creator at a time
                if await connection.run_sync(_create_if_empty):
                    return
    finally:
        await engine.dispose()
    from bot.store.migrate import bring_to_head  # behind, unknown or someone else's: Alembic decides

    await bring_to_head(url, auto_upgrade)
