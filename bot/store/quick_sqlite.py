"""aiosqlite's connection for the SQLite file store, with the calls that never wait made at once.

aiosqlite hands every call to its worker thread and wakes the event loop when it is done, so a
statement waiting on another process's lock never stalls the loop. Most calls cannot wait:
making or closing a cursor, fetching the rows of a result inside the transaction that holds
its snapshot, and a rollback with nothing open (the pool's reset after each commit). Those were
six of a short transaction's nine hand-offs, each a thread switch and a loop wake-up that every
answer paid for; they run on the loop's thread here. BEGIN, each statement and COMMIT still go
to the worker thread: they are what may wait on the lock (``busy_timeout``).
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import aiosqlite.core

_CURSOR_CALLS = frozenset({"close", "fetchall", "fetchone", "fetchmany"})


def never_waits(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` (a bound method of the sqlite3 connection or one of its cursors) cannot wait on a lock."""
    name = getattr(fn, "__name__", "")
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, sqlite3.Cursor) and name in _CURSOR_CALLS:
        return name == "close" or owner.connection.in_transaction  # rows read under the snapshot held
    if isinstance(owner, sqlite3.Connection):
        return name == "cursor" or (name == "rollback" and not owner.in_transaction)
    return False


class QuickConnection(aiosqlite.core.Connection):
    """An aiosqlite Connection that makes the calls that never wait on the loop's own thread.

    Only while its worker thread is idle: a statement whose caller was cancelled (a request cut
    off, a bot stopping) still runs there, and sqlite3 refuses a cursor touched from two threads at
    once ("Recursive use of cursors"), which left the cancelled caller waiting for ever."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_worker = 0  # calls handed to the worker thread and not yet finished there
        self._counting = threading.Lock()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if never_waits(fn) and self._running and self._connection is not None and not self._in_worker:
            return fn(*args, **kwargs)
        with self._counting:
            self._in_worker += 1

        @functools.wraps(fn)
        def counted() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._counting:
                    self._in_worker -= 1

        return await super()._execute(counted)  # type: ignore[no-untyped-call]


def quick_connect(database: str, **kwargs: Any) -> QuickConnection:
    """SQLAlchemy's aiosqlite dialect calls this as it would ``aiosqlite.connect`` (see db.py). The
    connection is used from two threads, one call at a time, so sqlite3's same-thread check is off.
    Its thread is a daemon, as the dialect makes aiosqlite's own (it skips that for a creator): a
    connection never closed must not keep the process from exiting."""
    options = {**kwargs, "check_same_thread": False}
    connection = QuickConnection(lambda: sqlite3.connect(database, **options), 64)
    connection._thread.daemon = True
    return connection
