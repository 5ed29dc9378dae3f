"""SqlStore: every store protocol the engine and the scheduler use, over one database."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar, cast

from sqlalchemy import Delete, Insert, Update, event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine import units
from bot.engine.ports import JSON, AlertRecord, Clock
from bot.engine.records import Approval, ChecklistTick, Execution, GateRecord, Run, StepLane, TargetRecord, Waiver
from bot.store.alerts import AlertsStore
from bot.store.audit import AuditStore
from bot.store.checklists import ChecklistStore
from bot.store.db import DEFAULT_DATABASE_URL, create_engine_for
from bot.store.delivery import DeliveryStore
from bot.store.envelopes import EnvelopesStore
from bot.store.executions import ExecutionsStore
from bot.store.first_look import FirstLookStore
from bot.store.report_emails import ReportEmailStore
from bot.store.runs import RunsStore
from bot.store.settings import SettingsStore

T = TypeVar("T")
_ATOMS = (str, int, float, bool, type(None), datetime, Enum)
_LEAVES = frozenset({str, int, float, bool, type(None), datetime})  # exact types: no subclass (an Enum) to ask
_READS = ("SELECT", "BEGIN", "COMMIT", "ROLLBACK", "PRAGMA", "SAVEPOINT", "RELEASE")


class SqlStore(
    RunsStore,
    ChecklistStore,
    ExecutionsStore,
    AuditStore,
    AlertsStore,
    DeliveryStore,
    SettingsStore,
    FirstLookStore,
    EnvelopesStore,
    ReportEmailStore,
):
    """Implements RolloutStore (every aggregate of bot/engine/store.py), AlertStore and AlertHistory
    (bot/engine/ports.py), OutboxStore and KeyValueStore (bot/slack/delivery/ports.py), the actions'
    KeyValueStore (bot/actions/base.py) and ClaimStore (bot/reports/ports.py).

    Each public method is one short transaction, committed before it returns, or (inside
    ``bot.engine.units.unit_of_work``) a part of the unit's one transaction.
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

    The reads the scheduled jobs and the card redraws repeat (the run, its lanes, executions and
    their targets, open alerts, checklists, approvals, gates, stored settings) are answered from
    memory until this engine writes to their tables (settings: to the same key); every write
    goes through this engine, so a cached answer is always what the database would say. Callers
    get copies, so changing a returned record never changes the cache. Never used for a shared
    database: another replica's writes would not be seen.
    """

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        super().__init__(engine, clock)
        self._writes = TableWrites(engine)
        self._cache: dict[Hashable, tuple[tuple[tuple[int, int], ...], object]] = {}
        self._values: dict[str, JSON | None] = {}  # settings by key, valid while _values_at is current
        self._values_at = self._writes.generation("settings")

    @classmethod
    def open_throwaway(cls, url: str, clock: Clock | None = None) -> SoleWriterStore:
        """A store on a file this process alone owns and deletes afterwards (see ``create_engine_for``)."""
        return cls(create_engine_for(url, throwaway=True), clock)

    def _forget_uncommitted(self) -> None:
        """A unit rolled back: answers learnt inside it may hold its writes, which are gone now."""
        self._cache.clear()
        self._values = {}

    async def _cached(self, tables: str | tuple[str, ...], key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        if units.current_unit() is not None:  # inside a unit the database may say what is not committed yet
            return await read()
        names = (tables,) if isinstance(tables, str) else tables
        seen = tuple(self._writes.generation(name) for name in names)
        hit = self._cache.get(key)
        if hit is not None and hit[0] == seen:
            return cast(T, _clone(hit[1]))
        value = await read()
        if tuple(self._writes.generation(name) for name in names) == seen:  # nothing was written meanwhile
            self._cache[key] = (seen, _clone(value))
        return value

    async def get_run(self, run_id: str) -> Run | None:
        return await self._cached("runs", ("get_run", run_id), lambda: super(SoleWriterStore, self).get_run(run_id))

    async def open_run(self, channel: str) -> Run | None:
        return await self._cached("runs", ("open_run", channel), lambda: super(SoleWriterStore, self).open_run(channel))

    async def open_runs(self) -> list[Run]:
        return await self._cached("runs", ("open_runs",), lambda: super(SoleWriterStore, self).open_runs())

    async def first_look(self, channel: str, keys: Sequence[str]) -> tuple[Run | None, dict[str, JSON | None]]:
        """From the caches of its two reads (most often no transaction at all)."""
        return await self.open_run(channel), {key: await self.get_value(key) for key in keys}

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

    async def ticks(self, run_id: str, scope: str) -> list[ChecklistTick]:
        read = super().ticks
        return await self._cached("checklist_ticks", ("ticks", run_id, scope), lambda: read(run_id, scope))

    async def waivers(self, run_id: str, scope: str) -> list[Waiver]:
        read = super().waivers
        return await self._cached("waivers", ("waivers", run_id, scope), lambda: read(run_id, scope))

    async def approvals(self, run_id: str, step_id: str, environment: str) -> list[Approval]:
        read = super().approvals
        key = ("approvals", run_id, step_id, environment)
        return await self._cached("approvals", key, lambda: read(run_id, step_id, environment))

    async def get_gate(self, run_id: str, gate_id: str) -> GateRecord | None:
        read = super().get_gate
        key = ("get_gate", run_id, gate_id)
        return await self._cached(("gate_records", "gate_signoffs"), key, lambda: read(run_id, gate_id))

    async def get_execution(self, execution_id: str) -> Execution | None:
        read = super().get_execution
        return await self._cached("executions", ("get_execution", execution_id), lambda: read(execution_id))

    async def targets(self, execution_id: str) -> list[TargetRecord]:
        read = super().targets
        return await self._cached("execution_targets", ("targets", execution_id), lambda: read(execution_id))

    async def get_value(self, key: str) -> JSON | None:
        if units.current_unit() is not None:
            return await super().get_value(key)
        seen = self._writes.generation("settings")
        if seen != self._values_at:  # written by a statement this class did not make itself
            self._values, self._values_at = {}, seen
        if key in self._values:
            return cast(JSON | None, _clone(self._values[key]))
        value = await super().get_value(key)
        if self._writes.generation("settings") == seen:
            self._values[key] = _clone(value)
        return value

    async def put_value(self, key: str, value: JSON) -> None:
        before = self._writes.generation("settings")
        await super().put_value(key, value)
        self._learn_value(key, _clone(value), before)

    async def delete_value(self, key: str) -> None:
        before = self._writes.generation("settings")
        await super().delete_value(key)
        self._learn_value(key, None, before)

    def _learn_value(self, key: str, value: JSON | None, before: tuple[int, int]) -> None:
        """Settings are cached per key: a write of one key (the cards write theirs all the time)
        keeps the others, unless some other write reached the table meanwhile."""
        after = self._writes.generation("settings")
        if before == self._values_at and after == (before[0], before[1] + 1):
            self._values[key] = value
        else:
            self._values = {}
        self._values_at = after


def _clone(value: Any) -> Any:
    """A deep copy of a cached answer: records (plain dataclasses) and JSON, shared immutable leaves.

    ``copy.deepcopy`` did the same at five times the cost, a twentieth of a simulated week. Leaves of
    the plain atomic types are kept where they are met, without a call each (most of a list's or a
    JSON object's items are)."""
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is dict:
        return {key: item if type(item) in _LEAVES else _clone(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) in _LEAVES else _clone(item) for item in value]
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, list):
        return [_clone(item) for item in value]
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(_clone(item) for item in value)
    if hasattr(kind, "__dataclass_fields__") and hasattr(value, "__dict__"):
        fields = dict(value.__dict__)
        for name, item in fields.items():
            if not isinstance(item, _ATOMS):  # most fields are: no call for them
                fields[name] = _clone(item)
        twin = object.__new__(kind)
        twin.__dict__.update(fields)
        return twin
    return copy.deepcopy(value)
