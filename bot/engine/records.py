"""What the engine persists, as plain dataclasses the store maps to tables.

These are records, not behaviour: the rules live in states.py, executor.py and friends.
JSON-typed fields (snapshots, health values, changes) are stored as JSON columns.
Times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from bot.engine.audit_kinds import AuditKind
from bot.engine.ports import JSON


class StepState(StrEnum):
    """Where one lane (run, step, environment) of a step is; states.py declares the moves."""

    PENDING = "pending"
    READY = "ready"
    APPROVED = "approved"
    RUNNING = "running"
    WAITING = "waiting"  # at a manual action, until the named person presses Done (manual.py)
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    SKIPPED = "skipped"


StepStatus = StepState


class RunState(StrEnum):
    ACTIVE = "active"
    HELD = "held"  # a person put the whole run on hold: no step may run
    PAUSED = "paused"  # paused between days (e.g. a gate said NO): no step may run
    FINISHED = "finished"
    ABANDONED = "abandoned"


# Run states that still occupy their channel (one such run per channel).
OPEN_RUN_STATES: frozenset[RunState] = frozenset({RunState.ACTIVE, RunState.HELD, RunState.PAUSED})


@dataclass
class Run:
    """One execution of a runbook in a channel; Day N counts working days from ``start_date``."""

    id: str
    runbook_id: str
    channel: str
    start_date: date
    state: RunState
    created_at: datetime
    created_by: str
    dry_run: bool = False
    reason: str | None = None  # why held / paused / abandoned
    finished_at: datetime | None = None


@dataclass
class StepLane:
    """The state of one step in one environment of one run (a staging+production step has two)."""

    run_id: str
    step_id: str
    environment: str
    state: StepState = StepState.PENDING
    reason: str | None = None
    changed_at: datetime | None = None
    changed_by: str | None = None
    last_execution_id: str | None = None
    requested_by: str | None = None  # who asked to run it (four eyes: may not approve it)


@dataclass
class ChecklistTick:
    """A ticked box. ``scope`` is a step id ("day2.1") or a gate id ("gonogo.day3")."""

    run_id: str
    scope: str
    item_id: str
    user_id: str
    name: str
    at: datetime


@dataclass
class Waiver:
    """A lead's decision to accept a step without an item (``item_id`` None = whole checklist)."""

    id: str
    run_id: str
    scope: str
    item_id: str | None
    user_id: str
    name: str
    reason: str
    at: datetime


@dataclass
class Approval:
    """An approve/reject vote on a lane's plan; withdrawn when the plan changes after it."""

    id: str
    run_id: str
    step_id: str
    environment: str
    role: str
    user_id: str
    name: str
    decision: str  # "approved" | "rejected"
    at: datetime
    plan_fingerprint: str
    reason: str | None = None
    withdrawn_at: datetime | None = None
    withdrawn_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


@dataclass
class HealthResult:
    """One gate health check as last measured, optionally overridden by a person with a reason."""

    label: str
    condition: str
    passed: bool | None
    value: float | None
    threshold: float | None
    detail: str
    checked_at: datetime
    override_by: str | None = None
    override_reason: str | None = None
    # What a ``counts`` check counted, one {"text": ..., "alert": id?} per thing (gate_evidence.py).
    counted: list[dict[str, str]] = field(default_factory=list)


@dataclass
class SignOff:
    role: str
    user_id: str
    name: str
    at: datetime


@dataclass
class GateRecord:
    """A Go/No-Go as decided in one run. Its manual ticks are ChecklistTicks with scope = gate id."""

    run_id: str
    gate_id: str
    health: list[HealthResult] = field(default_factory=list)
    decision: str | None = None  # "yes" | "no"
    decided_by: str | None = None
    decided_by_name: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    signoffs: list[SignOff] = field(default_factory=list)
    version: int = 0  # bumped by every save; 0 = never stored. ``save_gate`` compares and sets it.


class ExecutionState(StrEnum):
    RUNNING = "running"
    WAITING = "waiting"  # stopped at a manual action; no process works on it until Done resumes it
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # found running after a restart and reconciled


FINISHED_EXECUTION_STATES: frozenset[ExecutionState] = frozenset(
    {ExecutionState.SUCCEEDED, ExecutionState.FAILED, ExecutionState.INTERRUPTED}
)


@dataclass
class Execution:
    """One claimed run of a lane's plan (kind "apply") or of its revert (kind "rollback")."""

    id: str
    run_id: str
    step_id: str
    environment: str
    kind: str  # "apply" | "rollback"
    state: ExecutionState
    requested_by: str
    plan_fingerprint: str
    started_at: datetime
    dry_run: bool = False
    reverts: str | None = None  # rollback: the apply execution it reverts
    finished_at: datetime | None = None
    message: str | None = None
    owner: str | None = None  # the process working on it (lease.py); recovery takes it over
    heartbeat_at: datetime | None = None  # the owner's last sign of life while running/verifying


class TargetStatus(StrEnum):
    SNAPSHOTTED = "snapshotted"  # write-ahead done; apply not yet known to have finished
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # already at target: nothing applied, nothing to revert
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # a restart found it not applied
    REVERTED = "reverted"
    SKIPPED = "skipped"  # dry run, or not reached


@dataclass
class TargetRecord:
    """One target of one action of an execution: the write-ahead snapshot and what became of it.

    Keyed by (execution_id, action_index, target_key); ``seq`` orders records within an execution.
    """

    execution_id: str
    seq: int
    action_index: int
    action_line: str
    target_key: str
    target_label: str
    snapshot: JSON
    status: TargetStatus
    at: datetime
    changes: list[str] = field(default_factory=list)
    message: str | None = None
    mutating: bool = True


ActionRun = TargetRecord


@dataclass
class AuditEntry:
    """Append-only: who did what, when, to which run, step and environment, and how it went.

    ``step_id`` is a step, a gate or a checklist's scope, and ``environment`` the lane's environment
    when the entry is about one lane; ``label`` holds the words of a worded kind (see AuditKind)."""

    id: str
    at: datetime
    actor_id: str
    actor_name: str
    run_id: str | None
    kind: AuditKind
    step_id: str | None = None
    environment: str | None = None
    before: str | None = None
    after: str | None = None
    outcome: str = "ok"  # "ok" | "refused" | "failed"
    detail: str | None = None
    label: str | None = None

    @property
    def what(self) -> str:
        """The words the log shows for the entry: the kind's, or a worded entry's own."""
        return (self.label or self.kind.value) if self.kind.worded else self.kind.value

    @property
    def scope(self) -> str | None:
        """Where the entry happened as the log shows it: "day2.1@production", "gonogo.day3", or None."""
        if self.environment is None:
            return self.step_id
        return f"{self.step_id or ''}@{self.environment}"


@dataclass
class Incident:
    """Something a person declared wrong during the run (``/ion incident ...``)."""

    id: str
    run_id: str
    opened_by: str
    opened_by_name: str
    at: datetime
    text: str
    step_id: str | None = None
    resolved_at: datetime | None = None
