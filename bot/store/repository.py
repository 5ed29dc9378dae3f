"""SqlStore: every store protocol the engine and the scheduler use, over one database."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Delete, Insert, Update, event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.ports import JSON, AlertRecord, Clock
from bot.engine.records import Execution, Run, StepLane
from bot.store.alerts import AlertsStore
from bot.store.audit import AuditStore
from bot.store.checklists import ChecklistStore
from bot.store.db import DEFAULT_DATABASE_URL, create_engine_for
from bot.store.delivery import DeliveryStore
from bot.store.executions import ExecutionsStore
from bot.store.runs import RunsStore

T = TypeVar("T")
_READS = ("SELECT", "BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")


class SqlStore(RunsStore, ChecklistStore, ExecutionsStore, AuditStore, AlertsStore, DeliveryStore):
    """Implements RolloutStore, AlertStore, ClaimStore, OutboxStore and KeyValueStore.

    Each public method is one short transaction, committed before it returns.
    """

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        super().__init__(engine, clock)

    @classmethod
    def open(cls, url: str = DEFAULT_DATABASE_URL, clock: Clock | None = None) -> SqlStore:
        """A store on its own engine; call ``close`` when done. Run ``ensure_schema`` first."""
        return cls(create_engine_for(url), clock)

    async def close(self) -> None:
        await self.engine.dispose()


class TableWrites:
    """Counts the writes to each table made through one engine (any statement it cannot place counts for all)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._counts: dict[str, int] = {}
        self._all = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._on_execute)

    def generation(self, table: str) -> tuple[int, int]:
        return self._all, self._counts.get(table, 0)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        compiled = getattr(context, "compiled", None)
        element = getattr(compiled, "statement", None)
        name = getattr(element.table, "name", None) if isinstance(element, Insert | Update | Delete) else None
        if isinstance(name, str):
            self._counts[name] = self._counts.get(name, 0) + 1
        elif not statement.lstrip().upper().startswith(_READS):
            self._all += 1


class SoleWriterStore(SqlStore):
    """A SqlStore for a database no other process writes (the simulation's throwaway file).

    The reads the scheduled jobs repeat (the run, its lanes, executions and open alerts, stored
    settings) are answered from memory until this engine writes to their table; every write
    goes through this engine, so a cached answer is always what the database would say. Callers
    get copies, so changing a returned record never changes the cache. Never used for a shared
    database: another replica's writes would not be seen.
    """

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        super().__init__(engine, clock)
        self._writes = TableWrites(engine)
        self._cache: dict[Hashable, tuple[tuple[int, int], object]] = {}

    @classmethod
    def open_throwaway(cls, url: str, clock: Clock | None = None) -> SoleWriterStore:
        """A store on a file this process alone owns and deletes afterwards (see ``create_engine_for``)."""
        return cls(create_engine_for(url, throwaway=True), clock)

    async def _cached(self, table: str, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        seen = self._writes.generation(table)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == seen:
            return copy.deepcopy(hit[1])  # type: ignore[return-value]
        value = await read()
        if self._writes.generation(table) == seen:  # nothing was written meanwhile
            self._cache[key] = (seen, copy.deepcopy(value))
        return value

    async def get_run(self, run_id: str) -> Run | None:
        return await self._cached("runs", ("get_run", run_id), lambda: super(SoleWriterStore, self).get_run(run_id))

    async def open_run(self, channel: str) -> Run | None:
        return await self._cached("runs", ("open_run", channel), lambda: super(SoleWriterStore, self).open_run(channel))

    async def open_runs(self) -> list[Run]:
        return await self._cached("runs", ("open_runs",), lambda: super(SoleWriterStore, self).open_runs())

    async def lanes(self, run_id: str) -> list[StepLane]:
        return await self._cached("step_lanes", ("lanes", run_id), lambda: super(SoleWriterStore, self).lanes(run_id))

    async def get_lane(self, run_id: str, step_id: str, environment: str) -> StepLane | None:
        key = ("get_lane", run_id, step_id, environment)
        return await self._cached(
            "step_lanes", key, lambda: super(SoleWriterStore, self).get_lane(run_id, step_id, environment)
        )

    async def executions(self, run_id: str) -> list[Execution]:
        key = ("executions", run_id)
        return await self._cached("executions", key, lambda: super(SoleWriterStore, self).executions(run_id))

    async def active_alerts(self, run_id: str) -> list[AlertRecord]:
        key = ("active_alerts", run_id)
        return await self._cached("alerts", key, lambda: super(SoleWriterStore, self).active_alerts(run_id))

    async def get_value(self, key: str) -> JSON | None:
        return await self._cached("settings", ("get_value", key), lambda: super(SoleWriterStore, self).get_value(key))
