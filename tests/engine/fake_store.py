"""The engine's RolloutStore in dictionaries, held to the SQL store's behaviour by tests/store/contract/."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime

from bot.engine import units
from bot.engine.audit_kinds import AuditKind
from bot.engine.errors import StoreUnavailable
from bot.engine.records import (
    OPEN_RUN_STATES,
    Approval,
    AuditEntry,
    ChecklistTick,
    Execution,
    ExecutionState,
    GateRecord,
    Incident,
    Run,
    StepLane,
    StepState,
    TargetRecord,
    Waiver,
)

UNFINISHED = frozenset({ExecutionState.RUNNING, ExecutionState.VERIFYING})
ROWS = (
    "runs",
    "lane_rows",
    "tick_rows",
    "waiver_rows",
    "approval_rows",
    "gate_rows",
    "execution_rows",
    "target_rows",
    "audit_rows",
    "incident_rows",
)


class DuplicateKey(Exception):
    """The fake's IntegrityError: a row with that unique key exists already; the call wrote nothing."""


class _Snapshot:
    """The fake's share of a unit of work: its rows as they were before the unit's first write.

    Like SQLite's one writer, the unit holds the fake's writes from its first write to its end
    (others' writes wait), so putting the rows back never undoes someone else's write."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self._rows = {name: copy.deepcopy(getattr(store, name)) for name in ROWS}
        self.ended = asyncio.Event()

    async def commit(self) -> None:
        """The writes are in the dictionaries already."""
        self._end()

    async def rollback(self, error: BaseException) -> None:
        for name, rows in self._rows.items():
            setattr(self._store, name, rows)
        self._end()

    def _end(self) -> None:
        self._store.writer = None
        self.ended.set()


class FakeStore:
    """A RolloutStore in dictionaries. Check-and-set sections contain no await, so under
    asyncio they are atomic exactly like the store's conditional UPDATE. Inside a unit of work
    (bot/engine/units.py) the first write snapshots every row, and a rollback puts them back."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.lane_rows: dict[tuple[str, str, str], StepLane] = {}
        self.tick_rows: dict[tuple[str, str, str], ChecklistTick] = {}
        self.waiver_rows: list[Waiver] = []
        self.approval_rows: dict[str, Approval] = {}
        self.gate_rows: dict[tuple[str, str], GateRecord] = {}
        self.execution_rows: dict[str, Execution] = {}
        self.target_rows: dict[tuple[str, int, str], TargetRecord] = {}
        self.audit_rows: list[AuditEntry] = []
        self.incident_rows: list[Incident] = []
        self.save_target_calls = 0
        self.heartbeats: list[tuple[str, str, datetime]] = []  # every heartbeat call, refused ones too
        self.heartbeat_outage = False  # True: heartbeats fail, as when the owner lost its database
        self.writer: _Snapshot | None = None  # the unit of work writing now

    async def _yield(self) -> None:
        await asyncio.sleep(0)

    async def _join_unit(self) -> None:
        """Called first by every writing method: wait while another task's unit writes, and
        inside a unit keep what to go back to."""
        unit = units.current_unit()
        if unit is not None and unit.joined(self) is not None:
            return
        while self.writer is not None:
            await self.writer.ended.wait()
        if unit is not None:
            self.writer = _Snapshot(self)
            unit.join(self, self.writer)

    def _refuse_duplicates(self, *, execution: str | None = None, audit: str | None = None) -> None:
        """Raise before anything is written, as the SQL store's transaction rolls back on a unique key."""
        if execution is not None and execution in self.execution_rows:
            raise DuplicateKey(f"execution {execution} is stored already")
        if audit is not None and any(entry.id == audit for entry in self.audit_rows):
            raise DuplicateKey(f"audit entry {audit} is stored already")

    async def create_run(self, run: Run) -> Run:
        await self._join_unit()
        await self._yield()
        existing = next(
            (r for r in self.runs.values() if r.channel == run.channel and r.state in OPEN_RUN_STATES), None
        )
        if existing is not None:
            return copy.deepcopy(existing)
        self.runs[run.id] = copy.deepcopy(run)
        return copy.deepcopy(run)

    async def get_run(self, run_id: str) -> Run | None:
        run = self.runs.get(run_id)
        return copy.deepcopy(run) if run else None

    async def open_run(self, channel: str) -> Run | None:
        found = [r for r in self.runs.values() if r.channel == channel and r.state in OPEN_RUN_STATES]
        return copy.deepcopy(found[0]) if found else None

    async def open_runs(self) -> list[Run]:
        rows = [copy.deepcopy(r) for r in self.runs.values() if r.state in OPEN_RUN_STATES]
        return sorted(rows, key=lambda r: (r.created_at, r.id))

    async def save_run(self, run: Run) -> None:
        """Like the SQL store: state, reason and finished_at of a stored run; an unknown run changes nothing."""
        await self._join_unit()
        stored = self.runs.get(run.id)
        if stored is not None:
            self.runs[run.id] = replace(stored, state=run.state, reason=run.reason, finished_at=run.finished_at)

    async def get_lane(self, run_id: str, step_id: str, environment: str) -> StepLane | None:
        lane = self.lane_rows.get((run_id, step_id, environment))
        return copy.deepcopy(lane) if lane else None

    async def lanes(self, run_id: str) -> list[StepLane]:
        rows = [copy.deepcopy(v) for k, v in self.lane_rows.items() if k[0] == run_id]
        return sorted(rows, key=lambda lane: (lane.step_id, lane.environment))

    async def put_lane(self, lane: StepLane, expected: StepState | None, audit: AuditEntry | None = None) -> bool:
        await self._join_unit()
        await self._yield()
        key = (lane.run_id, lane.step_id, lane.environment)
        current = self.lane_rows.get(key)
        if (current is None and expected is not None) or (current is not None and current.state != expected):
            return False
        if audit is not None:
            self._refuse_duplicates(audit=audit.id)
        self.lane_rows[key] = copy.deepcopy(lane)
        if audit is not None:
            self.audit_rows.append(copy.deepcopy(audit))
        return True

    async def put_tick(self, tick: ChecklistTick) -> None:
        await self._join_unit()
        self.tick_rows[(tick.run_id, tick.scope, tick.item_id)] = copy.deepcopy(tick)

    async def remove_tick(self, run_id: str, scope: str, item_id: str) -> bool:
        await self._join_unit()
        return self.tick_rows.pop((run_id, scope, item_id), None) is not None

    async def ticks(self, run_id: str, scope: str) -> list[ChecklistTick]:
        rows = [copy.deepcopy(t) for t in self.tick_rows.values() if t.run_id == run_id and t.scope == scope]
        return sorted(rows, key=lambda t: t.at)

    async def add_waiver(self, waiver: Waiver) -> None:
        await self._join_unit()
        self.waiver_rows.append(copy.deepcopy(waiver))

    async def waivers(self, run_id: str, scope: str) -> list[Waiver]:
        rows = [copy.deepcopy(w) for w in self.waiver_rows if w.run_id == run_id and w.scope == scope]
        return sorted(rows, key=lambda w: (w.at, w.id))

    async def save_approval(self, approval: Approval) -> None:
        await self._join_unit()
        self.approval_rows[approval.id] = copy.deepcopy(approval)

    async def cast_vote(self, vote: Approval, superseded_reason: str) -> None:
        await self._join_unit()
        lane = (vote.run_id, vote.step_id, vote.environment)
        for old in self.approval_rows.values():
            if (old.run_id, old.step_id, old.environment) == lane and old.user_id == vote.user_id and old.active:
                old.withdrawn_at, old.withdrawn_reason = vote.at, superseded_reason
        self.approval_rows[vote.id] = copy.deepcopy(vote)

    async def approvals(self, run_id: str, step_id: str, environment: str) -> list[Approval]:
        rows = [
            copy.deepcopy(a)
            for a in self.approval_rows.values()
            if (a.run_id, a.step_id, a.environment) == (run_id, step_id, environment)
        ]
        return sorted(rows, key=lambda a: (a.at, a.id))

    async def get_gate(self, run_id: str, gate_id: str) -> GateRecord | None:
        record = self.gate_rows.get((run_id, gate_id))
        return copy.deepcopy(record) if record else None

    async def save_gate(self, record: GateRecord) -> bool:
        await self._join_unit()
        await self._yield()
        key = (record.run_id, record.gate_id)
        stored = self.gate_rows.get(key)
        if (stored.version if stored else 0) != record.version:
            return False
        self.gate_rows[key] = replace(copy.deepcopy(record), version=record.version + 1)
        return True

    async def claim_lane(self, lane: StepLane, expected: StepState, execution: Execution, audit: AuditEntry) -> bool:
        """Like the SQL store: the lane's move, the execution and the audit row, all or nothing."""
        await self._join_unit()
        await self._yield()
        key = (lane.run_id, lane.step_id, lane.environment)
        current = self.lane_rows.get(key)
        if current is None or current.state != expected:
            return False
        self._refuse_duplicates(execution=execution.id, audit=audit.id)
        self.lane_rows[key] = replace(
            current,
            state=lane.state,
            last_execution_id=lane.last_execution_id,
            changed_at=lane.changed_at,
            changed_by=lane.changed_by,
        )
        self.execution_rows[execution.id] = copy.deepcopy(execution)
        self.audit_rows.append(copy.deepcopy(audit))
        return True

    async def save_execution(self, execution: Execution) -> None:
        """Like the SQL store: state, finished_at and message only; the lease columns are left alone."""
        await self._join_unit()
        stored = self.execution_rows.get(execution.id)
        if stored is None:
            return
        self.execution_rows[execution.id] = replace(
            stored, state=execution.state, finished_at=execution.finished_at, message=execution.message
        )

    async def get_execution(self, execution_id: str) -> Execution | None:
        found = self.execution_rows.get(execution_id)
        return copy.deepcopy(found) if found else None

    async def executions(self, run_id: str) -> list[Execution]:
        rows = [copy.deepcopy(e) for e in self.execution_rows.values() if e.run_id == run_id]
        return sorted(rows, key=lambda e: (e.started_at, e.id))

    async def unfinished_executions(self) -> list[Execution]:
        rows = [copy.deepcopy(e) for e in self.execution_rows.values() if e.state in UNFINISHED]
        return sorted(rows, key=lambda e: (e.started_at, e.id))

    async def heartbeat(self, execution_id: str, owner: str, at: datetime) -> bool:
        await self._join_unit()
        self.heartbeats.append((execution_id, owner, at))
        if self.heartbeat_outage:
            raise StoreUnavailable("the database did not answer the heartbeat")  # as SqlStore says it
        stored = self.execution_rows.get(execution_id)
        if stored is None or stored.owner != owner or stored.state not in UNFINISHED:
            return False
        self.execution_rows[execution_id] = replace(stored, heartbeat_at=at)
        return True

    async def resume_execution(self, execution_id: str, owner: str, at: datetime, waiting_for: str | None) -> bool:
        await self._join_unit()
        await self._yield()
        stored = self.execution_rows.get(execution_id)
        if stored is None or stored.state is not ExecutionState.WAITING or stored.message != waiting_for:
            return False
        self.execution_rows[execution_id] = replace(stored, state=ExecutionState.RUNNING, owner=owner, heartbeat_at=at)
        return True

    async def take_over(self, execution_id: str, owner: str, stale_before: datetime, at: datetime) -> bool:
        await self._join_unit()
        await self._yield()
        stored = self.execution_rows.get(execution_id)
        if stored is None or stored.state not in UNFINISHED:
            return False
        if (stored.heartbeat_at or stored.started_at) >= stale_before:
            return False
        self.execution_rows[execution_id] = replace(stored, owner=owner, heartbeat_at=at)
        return True

    async def save_target(self, record: TargetRecord) -> None:
        await self._join_unit()
        self.save_target_calls += 1
        key = (record.execution_id, record.action_index, record.target_key)
        self.target_rows[key] = copy.deepcopy(record)

    async def targets(self, execution_id: str) -> list[TargetRecord]:
        rows = [copy.deepcopy(t) for t in self.target_rows.values() if t.execution_id == execution_id]
        return sorted(rows, key=lambda t: t.seq)

    async def append_audit(self, entry: AuditEntry) -> None:
        await self._join_unit()
        self._refuse_duplicates(audit=entry.id)
        self.audit_rows.append(copy.deepcopy(entry))

    async def audit(self, run_id: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        rows = [copy.deepcopy(e) for e in self.audit_rows if run_id is None or e.run_id == run_id]
        return rows[-limit:] if limit else rows

    async def audit_history(
        self,
        run_id: str,
        *,
        kinds: Collection[AuditKind] = (),
        step_id: str | None = None,
        environment: str | None = None,
        outcome: str | None = None,
    ) -> list[AuditEntry]:
        wanted = {"run_id": run_id, "step_id": step_id, "environment": environment, "outcome": outcome}
        return [
            copy.deepcopy(e)
            for e in self.audit_rows
            if (not kinds or e.kind in kinds)
            and all(value is None or getattr(e, field) == value for field, value in wanted.items())
        ]

    async def add_incident(self, incident: Incident) -> None:
        await self._join_unit()
        self.incident_rows.append(copy.deepcopy(incident))

    async def incidents(self, run_id: str) -> list[Incident]:
        rows = [copy.deepcopy(i) for i in self.incident_rows if i.run_id == run_id]
        return sorted(rows, key=lambda i: (i.at, i.id))
