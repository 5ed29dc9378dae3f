"""Closing a transaction's connection or session without a task of its own when the close cannot wait.

SQLAlchemy closes an ``async with`` connection or session in a task of its own, shielded, so a
cancelled caller cannot abandon a close half-way and lose the pool's connection. That task costs
every transaction two more turns of the event loop: a third of an answer's loop turns (issue 14).
A close that never waits cannot be cut off, since a cancellation lands only where a coroutine
waits. Such are a session whose transaction has ended (its connection went back with the commit)
and a connection to the store's own SQLite file whose calls run on the loop's thread at that
moment (quick_sqlite.py, inline_sqlite.py). Those are closed directly; anything else, shielded
as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bot.store.inline_sqlite import InlineConnection
from bot.store.quick_sqlite import QuickConnection


@asynccontextmanager
async def begin(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """``engine.begin()``: one transaction on a pooled connection, committed or rolled back, then closed."""
    connection = engine.connect()
    await connection.start()
    try:
        async with connection.begin():
            yield connection
    finally:
        await close(connection)


@asynccontextmanager
async def session(make: Callable[[], AsyncSession]) -> AsyncIterator[AsyncSession]:
    """``async with make() as session``, closed directly once its transaction has ended."""
    opened = make()
    try:
        yield opened
    finally:
        await close(opened)


async def close(resource: AsyncConnection | AsyncSession) -> None:
    """Close ``resource``; shielded in a task of its own unless the close cannot wait."""
    if closes_at_once(resource):
        await resource.close()
    else:
        await run_to_completion(resource.close())


def closes_at_once(resource: AsyncConnection | AsyncSession) -> bool:
    """Whether closing ``resource`` now runs to its end without waiting on anything."""
    if isinstance(resource, AsyncSession):
        return not resource.in_transaction()  # no connection held: the close only forgets objects
    pooled = resource.sync_connection
    if pooled is None or pooled.invalidated or pooled.closed:
        return False
    driver = pooled.connection.driver_connection
    if isinstance(driver, InlineConnection):
        return True
    return isinstance(driver, QuickConnection) and driver.calls_run_inline()


async def run_to_completion(closing: Coroutine[Any, Any, None]) -> None:
    """Run ``closing`` to its end in a task of its own, even if the caller is cancelled meanwhile
    (the cancellation is raised once it has ended), as SQLAlchemy's own ``async with`` does."""
    task = asyncio.ensure_future(closing)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as error:
            if task.done():
                raise
            cancelled = error
        else:
            break
    if cancelled is not None:
        raise cancelled
