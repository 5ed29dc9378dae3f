"""aiosqlite's connection for the SQLite file store, with every call that cannot wait made at once.

aiosqlite hands every call to its worker thread and wakes the event loop when it is done, so a
statement waiting on another process's lock never stalls the loop. Only taking the write lock can
wait: every transaction of the file store begins IMMEDIATE (db.py), and once it holds the lock,
under WAL, nothing it runs waits on another connection (its statements, the rows fetched under
its snapshot, its COMMIT or ROLLBACK). So the BEGIN is first tried on the loop's thread without
waiting (``busy_timeout`` 0); only when another process holds the lock does it go to the worker
thread, which waits the full ``busy_timeout`` there. Every hand-off was a thread switch and a loop
wake-up that each answer paid for, about three per transaction.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

import aiosqlite.core

_CURSOR_CALLS = frozenset({"close", "fetchall", "fetchone", "fetchmany", "execute", "executemany"})
_BEGIN = "BEGIN IMMEDIATE"


def never_waits(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` (a bound method of the sqlite3 connection or one of its cursors) cannot wait on a lock."""
    name = getattr(fn, "__name__", "")
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, sqlite3.Cursor) and name in _CURSOR_CALLS:
        return name == "close" or owner.connection.in_transaction  # inside, the write lock is held
    if isinstance(owner, sqlite3.Connection):
        return name in ("cursor", "rollback") or (name == "commit" and owner.in_transaction)
    return False


def _begin_on(fn: Callable[..., Any], args: tuple[Any, ...]) -> sqlite3.Connection | None:
    """The connection ``fn`` (a cursor's ``execute``) would begin the store's transaction on, else None."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, sqlite3.Cursor) and getattr(fn, "__name__", "") == "execute" and args and args[0] == _BEGIN:
        return None if owner.connection.in_transaction else owner.connection
    return None


def _begin_without_waiting(connection: sqlite3.Connection, begin: Callable[[], Any], busy_timeout_ms: int) -> bool:
    """Take the write lock now if no other connection holds it; False (nothing begun) if one does."""
    connection.execute("PRAGMA busy_timeout=0")
    try:
        begin()
    except sqlite3.OperationalError as error:
        if connection.in_transaction or ("locked" not in str(error) and "busy" not in str(error)):
            raise
        return False
    finally:
        connection.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    return True


class QuickConnection(aiosqlite.core.Connection):
    """An aiosqlite Connection that makes the calls that never wait on the loop's own thread.

    Only while its worker thread is idle: a statement whose caller was cancelled (a request cut
    off, a bot stopping) still runs there, and sqlite3 refuses a cursor touched from two threads at
    once ("Recursive use of cursors"), which left the cancelled caller waiting for ever."""

    def __init__(self, *args: Any, busy_timeout_ms: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._busy_timeout_ms = busy_timeout_ms  # what the connection waits for the lock (db.py sets it)
        self._in_worker = 0  # calls handed to the worker thread and not yet finished there
        self._counting = threading.Lock()

    def calls_run_inline(self) -> bool:
        """Whether a call that never waits runs on the loop's thread now (nothing is left in the worker)."""
        return self._running and self._connection is not None and not self._in_worker

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        connection = _begin_on(fn, args)
        if connection is not None:
            # A transaction runs on the loop's thread without a pause from here to its COMMIT: what
            # the loop has ready (Slack's acks) goes first.
            await asyncio.sleep(0)
        if self.calls_run_inline():
            if never_waits(fn):
                return fn(*args, **kwargs)
            if connection is not None and _begin_without_waiting(
                connection, functools.partial(fn, *args, **kwargs), self._busy_timeout_ms
            ):
                return None
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


def quick_connect(database: str, *, busy_timeout_ms: int, **kwargs: Any) -> QuickConnection:
    """SQLAlchemy's aiosqlite dialect calls this as it would ``aiosqlite.connect`` (see db.py). The
    connection is used from two threads, one call at a time, so sqlite3's same-thread check is off.
    Its thread is a daemon, as the dialect makes aiosqlite's own (it skips that for a creator): a
    connection never closed must not keep the process from exiting."""
    options = {**kwargs, "check_same_thread": False}
    connection = QuickConnection(lambda: sqlite3.connect(database, **options), 64, busy_timeout_ms=busy_timeout_ms)
    connection._thread.daemon = True
    return connection
