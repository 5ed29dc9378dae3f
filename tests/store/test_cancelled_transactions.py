"""A store call cancelled while its transaction waits (another writer holds the row it writes) gives
its connection back and leaves nothing half-written, on SQLite and PostgreSQL alike: a request cut
off mid-write must not take a pooled connection, or the row, with it."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text

from bot.store.repository import SqlStore


async def test_a_write_cancelled_while_it_waits_for_a_lock_gives_its_connection_back(
    store: SqlStore, database_url: str
) -> None:
    await store.put_value("k", 1)
    async with store.engine.connect() as holder:
        await holder.begin()
        if store.engine.dialect.name == "postgresql":
            await holder.execute(text("SELECT value FROM settings WHERE key = 'k' FOR UPDATE"))
        writing = asyncio.create_task(store.put_value("k", 2))
        for _ in range(50):  # the write is under way, waiting on the lock (SQLite: the pool's one connection)
            await asyncio.sleep(0)
        assert not writing.done()
        writing.cancel()
        await holder.rollback()
    with contextlib.suppress(asyncio.CancelledError):  # its clean-up runs once the lock is let go
        await writing
    assert writing.cancelled()
    assert await store.get_value("k") == 1  # nothing of the cut-off write landed
    await store.put_value("k", 3)  # the pool still has its connection to give
    assert await store.get_value("k") == 3
    assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
