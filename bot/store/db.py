"""One place that turns a database URL into a configured async engine.

SQLite (the embedded default) gets WAL, a busy timeout, foreign keys, ``BEGIN IMMEDIATE``
transactions and one pooled connection: this process's transactions queue on the pool, another
process's wait on the lock, instead of failing with "database is locked"; PostgreSQL goes through
asyncpg.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot import safe_text
from bot.store.inline_sqlite import inline_connector
from bot.store.quick_sqlite import quick_connect
from bot.store.text_guard import guard_text

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./ion.db"
SQLITE_BUSY_TIMEOUT_MS = 15_000

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
    "postgresql+psycopg": "postgresql+asyncpg",
}


class SchemaBehind(RuntimeError):
    """The database schema is older (or other) than this bot's; nothing was changed.

    Here, not in schema.py, so migrate.py (which schema.py loads only when a schema must change)
    raises it without importing schema.py back."""


class UnsupportedDatabase(ValueError):
    """The URL names a database this bot cannot store its state in."""


def normalise_url(url: str | URL) -> URL:
    """``sqlite:///x.db`` -> ``sqlite+aiosqlite:///x.db``; ``postgresql://`` -> ``postgresql+asyncpg://``."""
    parsed = make_url(url) if isinstance(url, str) else url
    driver = _ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    if driver not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise UnsupportedDatabase(
            f"the database URL {redact_url(parsed)} uses the driver '{parsed.drivername}', which this bot "
            "does not support; nothing was opened. Use sqlite:///path.db or postgresql://user@host/db."
        )
    return parsed.set(drivername=driver)


def redact_url(url: str | URL) -> str:
    """The URL as it may appear in messages and logs: the password is masked."""
    parsed = make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def is_sqlite(url: str | URL) -> bool:
    return normalise_url(url).get_backend_name() == "sqlite"


def is_embedded_sqlite(url: str | URL) -> bool:
    """A SQLite file (or memory) database: owned by this process, safe to upgrade unattended."""
    return is_sqlite(url)


def create_engine_for(
    url: str | URL = DEFAULT_DATABASE_URL, *, throwaway: bool = False, **engine_options: Any
) -> AsyncEngine:
    """An AsyncEngine for ``url`` with the per-backend settings the store relies on.

    ``throwaway`` is only for a SQLite file deleted when its process ends (``ionbot simulate``'s and
    the virtual console's temporary store): it skips the disk syncs, as a crash loses nothing that
    was meant to be kept, and runs its statements on the loop's thread through one connection
    (inline_sqlite.py; a second transaction waits for the pool, never for SQLite's lock). Never
    for ./ion.db or any store whose state must outlive the process.
    """
    parsed = normalise_url(url)
    options: dict[str, Any] = {
        "pool_pre_ping": parsed.get_backend_name() == "postgresql",
        "json_serializer": safe_text.dumps,  # NUL and lone surrogates would make PostgreSQL refuse the row
    }
    if throwaway:
        if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
            raise UnsupportedDatabase(f"only a SQLite file can be a throwaway store, not {redact_url(parsed)}")
        options.update(async_creator=inline_connector(parsed.database), pool_size=1, max_overflow=0)
    elif parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        # One connection: SQLite takes one writer at a time (every transaction here is IMMEDIATE),
        # so this process's transactions queue on the pool, first come first served, instead of
        # polling SQLite's lock with its busy handler's growing sleeps (up to 100 ms each).
        options.update(pool_size=1, max_overflow=0, pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    options.update(engine_options)
    engine = create_async_engine(parsed, **options)
    guard_text(engine)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine, throwaway)
        if not throwaway and parsed.database not in (None, "", ":memory:"):
            _never_recreate(engine, Path(str(parsed.database)))
            _quick_calls(engine)  # after _never_recreate: its "rw" URI is what this one opens
    return engine


def _quick_calls(engine: AsyncEngine) -> None:
    """Connections whose calls that never wait skip aiosqlite's thread (bot/store/quick_sqlite.py)."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
        quick = functools.partial(quick_connect, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
        return dialect.dbapi.connect(*cargs, async_creator_fn=quick, **cparams)


def _never_recreate(engine: AsyncEngine, path: Path) -> None:
    """A file that exists now is opened "rw" from now on: should it vanish while the bot runs, a new
    pooled connection fails ("unable to open database file") instead of quietly making an empty store."""
    if not path.exists():
        return  # a new store: ensure_schema's engine creates it

    @event.listens_for(engine.sync_engine, "do_connect")
    def _open_existing(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        if cargs and isinstance(cargs[0], str) and not cargs[0].startswith("file:"):
            cargs[0] = "file:" + quote(str(Path(cargs[0]).resolve())) + "?mode=rw"
            cparams["uri"] = True


def _configure_sqlite(engine: AsyncEngine, throwaway: bool = False) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if not throwaway:  # its one connection never waits on a lock: the driver's own BEGIN will do
            # Take transaction control from the driver so "begin" below can say IMMEDIATE.
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # The wait first: switching to WAL takes a lock that another process building the
            # same new file may hold for a moment, and without it that is "database is locked".
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=OFF" if throwaway else "PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    if throwaway:
        return

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes can fail with SQLITE_BUSY_SNAPSHOT
        # under WAL without waiting; IMMEDIATE takes the write lock up front and waits instead.
        # Straight on the driver's cursor: SQLAlchemy's statement pipeline (its events, the
        # statement counters) had nothing to do for it and was half of an empty transaction's cost.
        cursor = connection.connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.close()
