"""Everything the engine persists, one small protocol per aggregate; bot/store implements them all
with SQLAlchemy (``SqlStore``) and tests/engine/fakes.py in dictionaries (``FakeStore``).

Code that needs one aggregate takes its narrow protocol (a lease only heartbeats an execution,
``Lanes`` only reads and moves lanes); ``RolloutStore`` is their union, what a use case holds.
tests/store/contract/ holds both implementations to the rules below.

Changelog (additive only; the store engineer reads this):
- v1: initial protocol.
- v2: execution leases. ``Execution.owner`` and ``heartbeat_at`` are stored (the claim inserts
  them; ``save_execution`` leaves them alone); new ``heartbeat`` and ``take_over``, both
  conditional UPDATEs on an execution still running or verifying.
- v3: gate records carry ``GateRecord.version``; ``save_gate`` is a compare-and-set on it and
  returns whether it won (the engine re-reads and retries), so concurrent gate changes are not lost.
- v4: ``ExecutionState.WAITING`` (an execution stopped at a manual action) and ``resume_execution``,
  a conditional UPDATE waiting -> running that also sets the owner and heartbeat.
- v5: the store is split by aggregate; ``claim_execution(execution, lane_from, lane_to)`` became
  ``LaneStore.claim_lane(lane, expected, execution, audit)``: a compare-and-set on the lane's state
  like ``put_lane`` that inserts the execution and appends the move's audit entry in the same
  transaction (the engine checks the move against the transition table first, ``Lanes.claim``).
- v6: typed audit. ``AuditEntry`` has a ``kind`` (AuditKind), separate ``step_id`` and ``environment``
  and a ``label`` for worded kinds; ``audit_history`` answers by kind, step, environment and outcome.
- v7: units of work (bot/engine/units.py). Inside ``async with unit_of_work():`` every method of the
  same task joins one transaction of the unit, committed when the outermost unit ends and rolled
  back, all of it, when anything inside raises; reads inside see the unit's own writes.

Rules every implementation keeps:
- Each method is its own transaction and is committed when it returns (the executor's
  write-ahead relies on ``save_target`` being durable before ``apply`` runs), except inside a
  unit of work: there it commits with the unit (so no unit may span an ``apply``).
- ``claim_lane``, ``put_lane`` and ``save_gate`` are conditional UPDATEs: exactly one of N
  concurrent callers (across processes) wins; the losers change nothing, audit included.
- Lists come back in a stable order (stated per method); a missing record reads as None.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from bot.engine.audit_kinds import AuditKind
from bot.engine.records import (
    Approval,
    AuditEntry,
    ChecklistTick,
    Execution,
    GateRecord,
    Incident,
    Run,
    StepLane,
    StepState,
    TargetRecord,
    Waiver,
)


class RunStore(Protocol):
    """Runs: one open run per channel."""

    async def create_run(self, run: Run) -> Run:
        """Insert ``run`` unless its channel already has an open run (active/held/paused).

        Returns the channel's open run afterwards: ``run`` itself, or the one already there.
        Atomic: of two concurrent starts in one channel exactly one is inserted.
        """
        ...

    async def get_run(self, run_id: str) -> Run | None: ...

    async def open_run(self, channel: str) -> Run | None:
        """The channel's run whose state is active, held or paused, if any."""
        ...

    async def open_runs(self) -> list[Run]:
        """Every open run, oldest first (the scheduler and the watcher iterate them)."""
        ...

    async def save_run(self, run: Run) -> None:
        """Update state, reason, finished_at of an existing run."""
        ...


class LaneStore(Protocol):
    """Step lanes (a step in one environment): read, and moved only by compare-and-set."""

    async def get_lane(self, run_id: str, step_id: str, environment: str) -> StepLane | None: ...

    async def lanes(self, run_id: str) -> list[StepLane]:
        """Every stored lane of the run, ordered by (step_id, environment)."""
        ...

    async def put_lane(self, lane: StepLane, expected: StepState | None, audit: AuditEntry | None = None) -> bool:
        """Compare-and-set: write ``lane`` only if the stored state equals ``expected``.

        ``expected`` None means "insert only if no row exists for (run, step, environment)".
        Returns False and changes nothing otherwise. ``audit`` is appended in the same transaction
        as the move, so a crash can never leave a moved lane without its record of who moved it.
        """
        ...

    async def claim_lane(self, lane: StepLane, expected: StepState, execution: Execution, audit: AuditEntry) -> bool:
        """Start ``execution`` exactly once: the lane moves and the execution begins in ONE transaction.

        Only if the stored lane's state equals ``expected``: its state, last_execution_id,
        changed_at and changed_by become ``lane``'s (its reason and requested_by stay as stored),
        ``execution`` is inserted and ``audit`` appended; True. Otherwise nothing at all is
        written (no execution, no audit row) and False comes back.
        """
        ...


class SignOffStore(Protocol):
    """What people put on a lane or gate: checklist ticks, waivers, approvals and rejections."""

    async def put_tick(self, tick: ChecklistTick) -> None:
        """Insert or replace by (run_id, scope, item_id)."""
        ...

    async def remove_tick(self, run_id: str, scope: str, item_id: str) -> bool:
        """Delete; False when it was not ticked."""
        ...

    async def ticks(self, run_id: str, scope: str) -> list[ChecklistTick]:
        """Ordered by time ticked."""
        ...

    async def add_waiver(self, waiver: Waiver) -> None: ...

    async def waivers(self, run_id: str, scope: str) -> list[Waiver]:
        """Ordered by time (then id)."""
        ...

    async def save_approval(self, approval: Approval) -> None:
        """Insert or update by id (withdrawal updates withdrawn_at / withdrawn_reason)."""
        ...

    async def cast_vote(self, vote: Approval, superseded_reason: str) -> None:
        """Atomically withdraw the voter's active votes on the lane (at ``vote.at``, for
        ``superseded_reason``) and store ``vote``: one active vote per person and lane, always."""
        ...

    async def approvals(self, run_id: str, step_id: str, environment: str) -> list[Approval]:
        """All of the lane's approvals and rejections, withdrawn ones included, oldest first."""
        ...


class GateStore(Protocol):
    """Gate records (health, decision, sign-offs), versioned."""

    async def get_gate(self, run_id: str, gate_id: str) -> GateRecord | None: ...

    async def save_gate(self, record: GateRecord) -> bool:
        """Compare-and-set by (run_id, gate_id) on ``record.version``: write the whole record (health,
        decision, sign-offs) only if the stored version still equals it, and store version + 1.

        ``version`` 0 means "insert only if no record exists yet". Returns False and changes nothing
        otherwise: someone else saved the gate since ``record`` was read.
        """
        ...


class ExecutionStore(Protocol):
    """Executions (begun by ``LaneStore.claim_lane``), their leases and write-ahead target records."""

    async def save_execution(self, execution: Execution) -> None:
        """Update state, finished_at, message of a claimed execution."""
        ...

    async def get_execution(self, execution_id: str) -> Execution | None: ...

    async def executions(self, run_id: str) -> list[Execution]:
        """Every execution of the run, oldest first (by started_at, then id)."""
        ...

    async def unfinished_executions(self) -> list[Execution]:
        """Executions in state running or verifying, across all runs, oldest first (crash recovery)."""
        ...

    async def heartbeat(self, execution_id: str, owner: str, at: datetime) -> bool:
        """``UPDATE executions SET heartbeat_at=at WHERE id=.. AND owner=.. AND state IN
        (running, verifying)``: True when the row changed, False when the execution is no
        longer ``owner``'s or no longer active (the owner must then stop changing things)."""
        ...

    async def resume_execution(self, execution_id: str, owner: str, at: datetime, waiting_for: str | None) -> bool:
        """``UPDATE executions SET state=running, owner=owner, heartbeat_at=at WHERE id=.. AND
        state=waiting AND message=waiting_for``: True when it changed (of several callers exactly one
        wins; the message names the action it waits at, so a Done for an earlier wait never resumes a later one)."""
        ...

    async def take_over(self, execution_id: str, owner: str, stale_before: datetime, at: datetime) -> bool:
        """Claim a dead owner's execution for recovery, exactly once across replicas.

        ``UPDATE executions SET owner=owner, heartbeat_at=at WHERE id=.. AND state IN (running,
        verifying) AND COALESCE(heartbeat_at, started_at) < stale_before``; True when it changed.
        """
        ...

    async def save_target(self, record: TargetRecord) -> None:
        """Insert or update by (execution_id, action_index, target_key); durable on return."""
        ...

    async def targets(self, execution_id: str) -> list[TargetRecord]:
        """The execution's target records ordered by seq."""
        ...


class AuditLog(Protocol):
    """The append-only audit log (bot/engine/audit.py's Auditor is its one writer)."""

    async def append_audit(self, entry: AuditEntry) -> None:
        """Append only; entries are never updated or deleted."""
        ...

    async def audit(self, run_id: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Entries (of one run, or all) oldest first; with ``limit`` the newest ``limit`` of them."""
        ...

    async def audit_history(
        self,
        run_id: str,
        *,
        kinds: Collection[AuditKind] = (),
        step_id: str | None = None,
        environment: str | None = None,
        outcome: str | None = None,
    ) -> list[AuditEntry]:
        """The run's entries oldest first (in the order appended), only of ``kinds`` when any are given,
        and only of one step (or gate, or checklist scope), one environment, one outcome when given."""
        ...


class IncidentLog(Protocol):
    """Incidents people declare (the alerts they raise live in ports.AlertStore)."""

    async def add_incident(self, incident: Incident) -> None: ...

    async def incidents(self, run_id: str) -> list[Incident]:
        """Oldest first."""
        ...


class RolloutStore(RunStore, LaneStore, SignOffStore, GateStore, ExecutionStore, AuditLog, IncidentLog, Protocol):
    """Every aggregate a rollout's use cases read and write, in one store."""
