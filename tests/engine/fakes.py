"""In-memory fakes for the engine's ports: a RolloutStore, a world of fake actions, a checker."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.engine.errors import StoreUnavailable
from bot.engine.ports import (
    JSON,
    Action,
    ActionFailed,
    Change,
    CheckResult,
    Event,
    Outcome,
    ProgressCallback,
    Target,
)
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
from bot.runbook.models import Environment, Runbook

UNFINISHED = frozenset({ExecutionState.RUNNING, ExecutionState.VERIFYING})


class DuplicateKey(Exception):
    """The fake's IntegrityError: a row with that unique key exists already; the call wrote nothing."""


class FakeStore:
    """A RolloutStore in dictionaries. Check-and-set sections contain no await, so under
    asyncio they are atomic exactly like the store's conditional UPDATE."""

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

    async def _yield(self) -> None:
        await asyncio.sleep(0)

    def _refuse_duplicates(self, *, execution: str | None = None, audit: str | None = None) -> None:
        """Raise before anything is written, as the SQL store's transaction rolls back on a unique key."""
        if execution is not None and execution in self.execution_rows:
            raise DuplicateKey(f"execution {execution} is stored already")
        if audit is not None and any(entry.id == audit for entry in self.audit_rows):
            raise DuplicateKey(f"audit entry {audit} is stored already")

    async def create_run(self, run: Run) -> Run:
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
        self.tick_rows[(tick.run_id, tick.scope, tick.item_id)] = copy.deepcopy(tick)

    async def remove_tick(self, run_id: str, scope: str, item_id: str) -> bool:
        return self.tick_rows.pop((run_id, scope, item_id), None) is not None

    async def ticks(self, run_id: str, scope: str) -> list[ChecklistTick]:
        rows = [copy.deepcopy(t) for t in self.tick_rows.values() if t.run_id == run_id and t.scope == scope]
        return sorted(rows, key=lambda t: t.at)

    async def add_waiver(self, waiver: Waiver) -> None:
        self.waiver_rows.append(copy.deepcopy(waiver))

    async def waivers(self, run_id: str, scope: str) -> list[Waiver]:
        rows = [copy.deepcopy(w) for w in self.waiver_rows if w.run_id == run_id and w.scope == scope]
        return sorted(rows, key=lambda w: (w.at, w.id))

    async def save_approval(self, approval: Approval) -> None:
        self.approval_rows[approval.id] = copy.deepcopy(approval)

    async def cast_vote(self, vote: Approval, superseded_reason: str) -> None:
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
        await self._yield()
        key = (record.run_id, record.gate_id)
        stored = self.gate_rows.get(key)
        if (stored.version if stored else 0) != record.version:
            return False
        self.gate_rows[key] = replace(copy.deepcopy(record), version=record.version + 1)
        return True

    async def claim_lane(self, lane: StepLane, expected: StepState, execution: Execution, audit: AuditEntry) -> bool:
        """Like the SQL store: the lane's move, the execution and the audit row, all or nothing."""
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
        self.heartbeats.append((execution_id, owner, at))
        if self.heartbeat_outage:
            raise StoreUnavailable("the database did not answer the heartbeat")  # as SqlStore says it
        stored = self.execution_rows.get(execution_id)
        if stored is None or stored.owner != owner or stored.state not in UNFINISHED:
            return False
        self.execution_rows[execution_id] = replace(stored, heartbeat_at=at)
        return True

    async def resume_execution(self, execution_id: str, owner: str, at: datetime, waiting_for: str | None) -> bool:
        await self._yield()
        stored = self.execution_rows.get(execution_id)
        if stored is None or stored.state is not ExecutionState.WAITING or stored.message != waiting_for:
            return False
        self.execution_rows[execution_id] = replace(stored, state=ExecutionState.RUNNING, owner=owner, heartbeat_at=at)
        return True

    async def take_over(self, execution_id: str, owner: str, stale_before: datetime, at: datetime) -> bool:
        await self._yield()
        stored = self.execution_rows.get(execution_id)
        if stored is None or stored.state not in UNFINISHED:
            return False
        if (stored.heartbeat_at or stored.started_at) >= stale_before:
            return False
        self.execution_rows[execution_id] = replace(stored, owner=owner, heartbeat_at=at)
        return True

    async def save_target(self, record: TargetRecord) -> None:
        self.save_target_calls += 1
        key = (record.execution_id, record.action_index, record.target_key)
        self.target_rows[key] = copy.deepcopy(record)

    async def targets(self, execution_id: str) -> list[TargetRecord]:
        rows = [copy.deepcopy(t) for t in self.target_rows.values() if t.execution_id == execution_id]
        return sorted(rows, key=lambda t: t.seq)

    async def append_audit(self, entry: AuditEntry) -> None:
        self._refuse_duplicates(audit=entry.id)
        self.audit_rows.append(copy.deepcopy(entry))

    async def audit(self, run_id: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        rows = [copy.deepcopy(e) for e in self.audit_rows if run_id is None or e.run_id == run_id]
        return rows[-limit:] if limit else rows

    async def add_incident(self, incident: Incident) -> None:
        self.incident_rows.append(copy.deepcopy(incident))

    async def incidents(self, run_id: str) -> list[Incident]:
        rows = [copy.deepcopy(i) for i in self.incident_rows if i.run_id == run_id]
        return sorted(rows, key=lambda i: (i.at, i.id))


# --- a tests-only action kind over a fake world -------------------------------------------


class SimulatedCrash(BaseException):
    """The process dies mid-apply: not an Exception, so nothing in the engine catches it."""


@dataclass
class World:
    """Live state of fake services: "env/service/region" -> {"min_instances": n, "max_instances": m}."""

    services: dict[str, dict[str, int]] = field(default_factory=dict)
    fail_apply: set[str] = field(default_factory=set)  # target keys whose apply raises ActionFailed
    crash_before_write: set[str] = field(default_factory=set)
    crash_after_write: set[str] = field(default_factory=set)
    crash_revert: set[str] = field(default_factory=set)  # target keys whose revert kills the process
    applied: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    while_applying: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)  # key -> after write
    while_reverting: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)

    def state(self, key: str) -> dict[str, int]:
        return self.services.setdefault(key, {"min_instances": 3, "max_instances": 100})


_FIELDS = {"min_instances": "minInstances", "max_instances": "maxInstances"}


class FakeScale:
    """cloud_run.scale against the World: the same contract a real action kind keeps."""

    mutating = True

    def __init__(self, spec: Any, runbook: Runbook, environment: Environment, world: World) -> None:
        self.spec = spec
        self.env = environment.name
        self.world = world
        service = runbook.service(spec.service)
        regions = spec.regions if spec.regions != "all" else (service.regions if service else [])
        self._targets = [Target(f"{spec.service}/{r}", f"{spec.service} {r} ({self.env})") for r in regions]
        self.wanted = {k: getattr(spec, k) for k in _FIELDS if getattr(spec, k) is not None}

    def describe(self) -> str:
        return f"Scale {self.spec.service}: " + ", ".join(f"{k} {v}" for k, v in self.wanted.items())

    def targets(self) -> Sequence[Target]:
        return self._targets

    def _key(self, target: Target) -> str:
        return f"{self.env}/{target.key}"

    async def snapshot(self, target: Target) -> JSON:
        live = self.world.state(self._key(target))
        return {k: live[k] for k in self.wanted}

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        return [
            Change(target.label, _FIELDS[k], snapshot.get(k), v) for k, v in self.wanted.items() if snapshot.get(k) != v
        ]

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        key = self._key(target)
        if target.key in self.world.crash_before_write:
            raise SimulatedCrash(key)
        if target.key in self.world.fail_apply:
            raise ActionFailed(f"Cloud Run refused the update of {target.label}: quota exceeded.")
        if not self.diff(target, await self.snapshot(target)):
            return Outcome(ok=True, changed=False, message="already at target")
        self.world.state(key).update(self.wanted)
        self.world.applied.append(key)
        if target.key in self.world.while_applying:
            await self.world.while_applying[target.key]()
        if target.key in self.world.crash_after_write:
            raise SimulatedCrash(key)
        await progress(f"scaled {target.label}")
        return Outcome(ok=True, changed=True, message="scaled")

    async def verify(self, target: Target) -> Outcome:
        ok = not self.diff(target, await self.snapshot(target))
        return Outcome(ok=ok, changed=False, message="at target" if ok else "not at target")

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        key = self._key(target)
        if target.key in self.world.crash_revert:
            raise SimulatedCrash(key)
        self.world.state(key).update(snapshot)
        self.world.reverted.append(key)
        if target.key in self.world.while_reverting:
            await self.world.while_reverting[target.key]()
        return Outcome(ok=True, changed=True, message="restored")

    async def read_back(self, target: Target) -> JSON:
        return await self.snapshot(target)


class FakeNote:
    """manual: a non-mutating action (nothing to snapshot or revert)."""

    mutating = False

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def describe(self) -> str:
        return f"Manual: {self.spec.instruction}"

    def targets(self) -> Sequence[Target]:
        return [Target("note", "the team")]

    async def snapshot(self, target: Target) -> JSON:
        return None

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        return []

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        return Outcome(ok=True, changed=False, message="noted")

    async def verify(self, target: Target) -> Outcome:
        return Outcome(ok=True, changed=False, message="noted")

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        return Outcome(ok=True, changed=False, message="nothing to revert")

    async def read_back(self, target: Target) -> JSON:
        return None


class FakeActions:
    def __init__(self, world: World) -> None:
        self.world = world

    def build(self, spec: Any, runbook: Runbook, environment: Environment) -> Action:
        if spec.kind == "cloud_run.scale":
            return FakeScale(spec, runbook, environment, self.world)
        if spec.kind == "manual":
            return FakeNote(spec)
        raise ValueError(f"the fake factory has no {spec.kind}")


class FakeChecker:
    """Metric values by name; a metric with no value is unknown (no data)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    async def check(self, condition: Any, environment: Environment, now: datetime) -> CheckResult:
        value = self.values.get(condition.metric)
        text = condition.text or str(condition)
        if value is None:
            return CheckResult(text, None, None, None, "no data")
        passed = condition.holds(value, None)
        return CheckResult(text, passed, value, condition.threshold.value, f"{condition.metric} = {value}")


class FakeNotifier:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def notify(self, event: Event) -> None:
        self.events.append(event)

    def texts(self, kind: str | None = None) -> list[str]:
        return [e.text for e in self.events if kind is None or e.kind == kind]
