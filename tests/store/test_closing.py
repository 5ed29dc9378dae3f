"""Closing a transaction's connection (bot/store/closing.py): directly when the close cannot wait,
shielded in a task of its own when it can, and the pool's one connection always comes back."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from bot.engine.clock import VirtualClock
from bot.store import closing
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.store.conftest import T0, sqlite_url


@pytest.fixture
async def engine(migrated_sqlite_template: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    path = tmp_path / "ion.db"
    shutil.copyfile(migrated_sqlite_template, path)
    store = SqlStore(create_engine_for(sqlite_url(path)), VirtualClock(T0))
    try:
        yield store.engine
    finally:
        await store.close()


def tasks_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the coroutines wrapped in tasks from now on (``asyncio.ensure_future`` and ``create_task``)."""
    made: list[str] = []
    loop = asyncio.get_running_loop()
    create = loop.create_task

    def counted(coro, **kwargs):  # type: ignore[no-untyped-def]
        made.append(getattr(coro, "__qualname__", type(coro).__name__))
        return create(coro, **kwargs)

    monkeypatch.setattr(loop, "create_task", counted)
    return made


async def test_a_transaction_on_the_stores_own_file_closes_without_a_task_of_its_own(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with closing.begin(engine) as connection:  # the pool's connection opened (its set-up may use tasks)
        await connection.execute(text("SELECT 1"))
    made = tasks_made(monkeypatch)
    for _ in range(3):
        async with closing.begin(engine) as connection:
            assert (await connection.execute(text("SELECT 1"))).scalar() == 1
            assert closing.closes_at_once(connection)
    assert made == []
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_session_closes_directly_once_its_transaction_has_ended(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    made = tasks_made(monkeypatch)
    async with closing.session(sessions) as session:
        async with session.begin():
            assert not closing.closes_at_once(session)  # it holds the pool's connection here
            await session.execute(text("SELECT 1"))
        assert closing.closes_at_once(session)
    assert made == []
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_connection_whose_call_waits_in_the_thread_is_closed_shielded(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Another process holds the lock: the BEGIN waits in aiosqlite's thread, so a close then could
    wait too; it is not made directly, and once the lock is let go everything comes back."""
    other = sqlite3.connect(tmp_path / "ion.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    connection = engine.connect()
    await connection.start()
    beginning = asyncio.create_task(connection.begin().start())
    for _ in range(50):
        await asyncio.sleep(0)
    assert not beginning.done()
    assert not closing.closes_at_once(connection)
    other.execute("COMMIT")
    other.close()
    transaction = await beginning
    await transaction.commit()
    assert closing.closes_at_once(connection)
    await closing.close(connection)
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_caller_cancelled_during_a_shielded_close_still_returns_the_connection(engine: AsyncEngine) -> None:
    connection = engine.connect()
    await connection.start()
    release = asyncio.Event()

    async def slow_close() -> None:  # a close that waits, as one over the network does
        await release.wait()
        await connection.close()

    closer = asyncio.create_task(closing.run_to_completion(slow_close()))
    await asyncio.sleep(0)
    closer.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not closer.done()  # the cancellation waits for the close to end
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await closer
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
