"""Can the state store be written right now? A write-and-rollback says so, not ``SELECT 1``.

``StoreHealth.probe`` is what /readyz asks and what ``watch_forever`` repeats every few seconds in
`ionbot serve`. For the embedded SQLite store it first looks at the file itself: a file removed
(or replaced) while the bot runs is still written through the open connections, into a deleted
inode, and a file made read-only is still written through them too; so both are caught by name and
identity, and the store then refuses every transaction (``StoreBase.refusing``) instead of
losing what it is told. A change of state is logged once, loudly, never once per request; when
the store comes back the ``on_recovered`` callbacks run (crash recovery, the outbox).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

import structlog
from sqlalchemy import insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.ports import Clock
from bot.store.outage import is_outage, reason
from bot.store.tables import SettingRow

log = structlog.get_logger(__name__)

PROBE_TIMEOUT_SECONDS = 5.0
WATCH_INTERVAL_SECONDS = 5.0
_PROBE_KEY = "ionbot:write-probe:"

Recovered = Callable[[], Awaitable[None]]


class GuardedStore(Protocol):
    engine: AsyncEngine
    refusing: str | None


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL and for an in-memory database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database)).expanduser().resolve()


class StoreHealth:
    """The store's last known state: ``problem`` is None while writes succeed, else a sentence."""

    def __init__(self, store: GuardedStore, clock: Clock, *, url: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> None:
        self._store = store
        self._clock = clock
        self._timeout = timeout
        self.path = sqlite_file(url)
        self._identity = _identity(self.path) if self.path is not None else None
        self.problem: str | None = None
        self.down_since: datetime | None = None
        self._recovered: list[Recovered] = []
        # One probe at a time: a probe begun before the file vanished must not record "fine" after
        # one begun after it recorded the problem (that flap would log the loud line twice).
        self._probing = asyncio.Lock()

    @property
    def known_down(self) -> bool:
        return self.problem is not None

    def on_recovered(self, callback: Recovered) -> None:
        self._recovered.append(callback)

    async def probe(self) -> str | None:
        """Check now; returns the problem (None when the store takes writes) and records any change."""
        async with self._probing:
            problem = self._file_problem()
            self._store.refusing = problem
            if problem is None:
                problem = await self._write_problem()
            back = self._record(problem)
        if back:  # outside the lock: recovery may take a while, and /readyz must not wait for it
            await self._run_recovered()
        return problem

    async def noticed(self, error: BaseException) -> None:
        """A handler or loop met an outage: known at once, without waiting for the next probe."""
        async with self._probing:
            if self.problem is None:
                self._record(f"the database cannot be reached or written ({reason(error)})")

    async def watch_forever(self, interval: float = WATCH_INTERVAL_SECONDS) -> None:
        """`ionbot serve`'s loop: a probe every ``interval`` seconds, so an outage's end is noticed by itself."""
        while True:
            try:
                await self.probe()
            except Exception:  # the watch must outlive anything a probe meets
                log.exception("store health probe failed")
            await self._clock.sleep(interval)

    def _file_problem(self) -> str | None:
        if self.path is None:
            return None
        path = self.path
        if not path.exists():
            return (
                f"the SQLite store {path} was removed while the bot was running; every change is refused "
                "rather than written into a deleted file. Restore the file (with its -wal file) from a "
                "backup and restart `ionbot serve`."
            )
        if _identity(path) != self._identity:
            return (
                f"the SQLite store {path} was replaced by another file while the bot was running; every "
                "change is refused. Put the original file back and restart `ionbot serve`."
            )
        unwritable = [p for p in (path, path.parent) if not os.access(p, os.W_OK)]
        if unwritable:
            names = " and ".join(str(p) for p in unwritable)
            return f"the SQLite store cannot be written: {names} became read-only; make it writable again."
        return None

    async def _write_problem(self) -> str | None:
        try:
            async with asyncio.timeout(self._timeout), self._store.engine.connect() as connection:
                transaction = await connection.begin()
                try:
                    await connection.execute(
                        insert(SettingRow).values(
                            key=_PROBE_KEY + uuid.uuid4().hex, value=None, updated_at=self._clock.now()
                        )
                    )
                finally:
                    await transaction.rollback()
        except Exception as error:
            if not is_outage(error):
                raise
            return f"the database cannot be reached or written ({reason(error)})"
        return None

    def _record(self, problem: str | None) -> bool:
        """Keep ``problem``; log a change once, loudly; True when the store has just come back."""
        was = self.problem
        self.problem = problem
        if was is None and problem is not None:
            self.down_since = self._clock.now()
            log.error("THE STATE STORE CANNOT BE WRITTEN; /readyz says 503 until it can", problem=problem)
        elif was is not None and problem is None:
            since, self.down_since = self.down_since, None
            log.warning("the state store takes writes again", down_since=since.isoformat() if since else None)
            return True
        return False

    async def _run_recovered(self) -> None:
        for callback in list(self._recovered):
            try:
                await callback()
            except Exception:  # the next loop pass (recovery, the outbox) tries again
                log.exception("work after the store came back failed")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino
