"""The SQLite file store's connections (bot/store/quick_sqlite.py): only a BEGIN that meets another
process's lock goes to aiosqlite's thread, and waiting there leaves the loop free; this process's own
transactions queue on its one pooled connection (bot/store/db.py), never on SQLite's busy handler."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite.core
import pytest

from bot.engine.clock import VirtualClock
from bot.store.db import SQLITE_BUSY_TIMEOUT_MS, create_engine_for
from bot.store.quick_sqlite import never_waits, quick_connect
from bot.store.repository import SqlStore
from tests.store.conftest import T0, sqlite_url


@pytest.fixture
async def sqlite_store(migrated_sqlite_template: Path, tmp_path: Path) -> AsyncIterator[SqlStore]:
    path = tmp_path / "ion.db"
    shutil.copyfile(migrated_sqlite_template, path)
    store = SqlStore(create_engine_for(sqlite_url(path)), VirtualClock(T0))
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def handed_off(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls that reach aiosqlite's worker thread, by name."""
    names: list[str] = []
    to_thread = aiosqlite.core.Connection._execute

    async def recorded(self: aiosqlite.core.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        names.append(fn.__name__)
        return await to_thread(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.core.Connection, "_execute", recorded)
    return names


async def test_with_no_other_process_on_the_file_nothing_is_handed_to_the_thread(
    sqlite_store: SqlStore, handed_off: list[str]
) -> None:
    await sqlite_store.put_value("k", 1)  # opens the pool's connection (its set-up goes to the thread)
    handed_off.clear()
    await sqlite_store.put_value("k", 2)
    assert await sqlite_store.get_value("k") == 2
    assert handed_off == []  # BEGIN IMMEDIATE took the lock at once; inside it nothing waits


async def test_concurrent_transactions_of_one_process_take_turns_on_its_one_connection(
    sqlite_store: SqlStore, handed_off: list[str]
) -> None:
    await sqlite_store.put_value("list", [])  # opens the pool's connection
    handed_off.clear()
    await asyncio.gather(*(sqlite_store.append_value("list", n) for n in range(20)))
    assert sorted(await sqlite_store.get_value("list") or []) == list(range(20))  # type: ignore[type-var]
    assert handed_off == []  # none met the lock: they queued on the pool, first come first served
    assert sqlite_store.engine.pool.size() == 1  # type: ignore[attr-defined]


async def test_a_write_waiting_on_another_processs_lock_leaves_the_loop_free(
    sqlite_store: SqlStore, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "ion.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    writing = asyncio.create_task(sqlite_store.put_value("k", 1))
    turns = 0
    while not writing.done() and turns < 200:  # the loop keeps turning while the write waits
        await asyncio.sleep(0)
        turns += 1
    assert turns == 200 and not writing.done()
    other.execute("COMMIT")
    other.close()
    await writing
    assert await sqlite_store.get_value("k") == 1
    async with sqlite_store.engine.connect() as connection:  # the wait it was tried with is put back
        assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS


def test_only_calls_that_cannot_wait_on_the_lock_are_made_at_once(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    cursor = connection.cursor()
    assert never_waits(connection.cursor) and never_waits(cursor.close) and never_waits(connection.rollback)
    assert not never_waits(cursor.execute) and not never_waits(connection.commit)
    assert not never_waits(cursor.fetchall)  # outside a transaction a read may still meet the lock
    cursor.execute("BEGIN IMMEDIATE")
    # Inside, the write lock is held: statements, rows, COMMIT and ROLLBACK wait on nobody.
    assert never_waits(cursor.execute) and never_waits(cursor.fetchall)
    assert never_waits(connection.commit) and never_waits(connection.rollback)
    connection.rollback()
    connection.close()


async def test_a_connection_never_closed_does_not_keep_the_process_from_exiting(tmp_path: Path) -> None:
    connection = await quick_connect(str(tmp_path / "x.db"), busy_timeout_ms=100)
    try:
        assert connection._thread.daemon
    finally:
        await connection.close()


async def test_while_the_thread_still_runs_a_call_the_calls_that_cannot_wait_queue_behind_it(tmp_path: Path) -> None:
    """A cancelled caller's statement still runs on the thread; closing its cursor meanwhile from
    the loop was refused by sqlite3 ("Recursive use of cursors") and left a stopping bot hanging."""
    connection = quick_connect(str(tmp_path / "busy.db"), busy_timeout_ms=100)
    await connection
    hold = threading.Event()
    try:
        busy = asyncio.create_task(connection._execute(hold.wait))
        await asyncio.sleep(0)  # the task counts its call before it waits for the thread
        assert connection._in_worker == 1
        raw = connection._connection
        assert raw is not None
        making = asyncio.create_task(connection._execute(raw.cursor))  # one that never waits, made at once when idle
        for _ in range(20):
            await asyncio.sleep(0)
        assert not making.done()  # in line behind the running call, not on the loop's thread

        hold.set()
        await busy
        assert isinstance(await making, sqlite3.Cursor)
        assert connection._in_worker == 0
    finally:
        hold.set()
        await connection.close()
