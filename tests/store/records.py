"""Small builders for engine records, so each test states only what it is about."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta

from bot.engine.audit_kinds import AuditKind
from bot.engine.records import (
    AuditEntry,
    Execution,
    ExecutionState,
    Run,
    RunState,
    StepLane,
    StepState,
    TargetRecord,
    TargetStatus,
)
from bot.engine.store import LaneStore
from tests.store.conftest import T0


def new_id() -> str:
    return uuid.uuid4().hex


def a_run(channel: str = "C-rollout", state: RunState = RunState.ACTIVE, at: datetime = T0) -> Run:
    return Run(
        id=new_id(),
        runbook_id="week17",
        channel=channel,
        start_date=date(2026, 4, 20),
        state=state,
        created_at=at,
        created_by="U-lead",
    )


def a_lane(run: Run, state: StepState = StepState.PENDING, step_id: str = "day2.1") -> StepLane:
    return StepLane(
        run_id=run.id,
        step_id=step_id,
        environment="production",
        state=state,
        changed_at=T0,
        changed_by="U-lead",
    )


def an_execution(run: Run, step_id: str = "day2.1", by: str = "U-sre", at: datetime = T0) -> Execution:
    return Execution(
        id=new_id(),
        run_id=run.id,
        step_id=step_id,
        environment="production",
        kind="apply",
        state=ExecutionState.RUNNING,
        requested_by=by,
        plan_fingerprint="plan-abc",
        started_at=at,
    )


def a_target(execution: Execution, seq: int, action_index: int = 0, key: str = "us-central1") -> TargetRecord:
    return TargetRecord(
        execution_id=execution.id,
        seq=seq,
        action_index=action_index,
        action_line="Scale ion-mentoring-api in us-central1: min 2",
        target_key=key,
        target_label=f"ion-mentoring-api {key} (production)",
        snapshot={"minInstances": 3, "maxInstances": 20},
        status=TargetStatus.SNAPSHOTTED,
        at=T0 + timedelta(seconds=seq),
        changes=["minInstances 3 -> 2"],
    )


def an_audit_entry(what: str, run_id: str | None = None, at: datetime = T0) -> AuditEntry:
    """An entry of the kind ``what`` names, or (words no kind has) of kind OTHER keeping the words."""
    kind = AuditKind.read(what)
    label = what if kind.worded else None
    return AuditEntry(
        id=new_id(), at=at, actor_id="U-sre", actor_name="sam", run_id=run_id, kind=kind, step_id="day2.1", label=label
    )


def a_claim(execution: Execution, expected: StepState = StepState.APPROVED) -> tuple[StepLane, StepState, AuditEntry]:
    """The lane move, expected state and audit entry that start ``execution`` (``claim_lane``'s arguments)."""
    moved = StepLane(
        run_id=execution.run_id,
        step_id=execution.step_id,
        environment=execution.environment,
        state=StepState.ROLLING_BACK if execution.kind == "rollback" else StepState.RUNNING,
        changed_at=execution.started_at,
        changed_by=execution.requested_by,
        last_execution_id=execution.id,
    )
    entry = replace(
        an_audit_entry("step state", execution.run_id, execution.started_at),
        actor_id=execution.requested_by,
        step_id=f"{execution.step_id}@{execution.environment}",
        before=expected.value,
        after=moved.state.value,
    )
    return moved, expected, entry


async def claim(store: LaneStore, execution: Execution, expected: StepState = StepState.APPROVED) -> bool:
    """Start ``execution`` on its lane, expected in state ``expected``."""
    moved, expected, entry = a_claim(execution, expected)
    return await store.claim_lane(moved, expected, execution, entry)
