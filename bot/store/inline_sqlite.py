"""aiosqlite's connection, with every call made on the event loop's own thread.

aiosqlite hands each statement to a worker thread and wakes the loop when it is done: right for
a shared database file, where a statement may wait on another process's lock. A throwaway store
(``ionbot simulate``'s and the virtual console's temporary file, see ``db.create_engine_for``) is
written by this process alone, one connection at a time, and its statements take microseconds;
there the hand-offs were a fifth of a simulated week's wall time. The class keeps aiosqlite's
API (SQLAlchemy's aiosqlite dialect drives it unchanged) and runs each queued call at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite.core


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs the call and settles its future."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, call = item
        try:
            result = call()
        except BaseException as error:  # handed to the awaiting caller, as the worker thread would
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.core.Connection):
    """An aiosqlite Connection whose worker thread is never started."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int = 64) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _RunNow()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, aiosqlite.core.Connection]:
        return self._connect().__await__()  # the base class starts its thread here


def inline_connector(database: str) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: a fresh inline connection to ``database``."""

    async def connect() -> aiosqlite.core.Connection:
        return await InlineConnection(lambda: sqlite3.connect(database, check_same_thread=False))

    return connect
