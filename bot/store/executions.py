"""Executions: the once-only claim (lane, execution and audit row in one transaction), leases and
the write-ahead target records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, insert, select, update

from bot.engine.records import (
    AuditEntry,
    Execution,
    ExecutionState,
    StepLane,
    StepState,
    TargetRecord,
    TargetStatus,
)
from bot.store.audit import append_entry
from bot.store.base import StoreBase, execute, upsert
from bot.store.rows import columns_of
from bot.store.runs import record_lane_move
from bot.store.tables import ExecutionRow, ExecutionTargetRow, StepLaneRow

_UNFINISHED = (ExecutionState.RUNNING.value, ExecutionState.VERIFYING.value)
_EXECUTIONS_TABLE = cast(Table, ExecutionRow.__table__)
_EXECUTIONS = _EXECUTIONS_TABLE.c
_TARGETS = cast(Table, ExecutionTargetRow.__table__)
_LANES = cast(Table, StepLaneRow.__table__)
# Built once (issue 14): making a statement and its cache key cost more than running it.
_EXECUTION_COLUMNS = columns_of(_EXECUTIONS_TABLE, Execution)
_EXECUTION = select(*_EXECUTION_COLUMNS).where(_EXECUTIONS.id == bindparam("execution_id"))
_EXECUTIONS_OF = (
    select(*_EXECUTION_COLUMNS)
    .where(_EXECUTIONS.run_id == bindparam("run_id"))
    .order_by(_EXECUTIONS.started_at, _EXECUTIONS.id)
)
_UNFINISHED_EXECUTIONS = (
    select(*_EXECUTION_COLUMNS)
    .where(_EXECUTIONS.state.in_(_UNFINISHED))
    .order_by(_EXECUTIONS.started_at, _EXECUTIONS.id)
)
_TARGETS_OF = (
    select(*columns_of(_TARGETS, TargetRecord))
    .where(_TARGETS.c.execution_id == bindparam("execution_id"))
    .order_by(_TARGETS.c.seq, _TARGETS.c.action_index)
)
_NEW_EXECUTION = insert(_EXECUTIONS_TABLE)
# The claim: the lane moves from the state its caller saw (b_* name the key and that state).
_CLAIM_LANE = (
    update(_LANES)
    .where(
        _LANES.c.run_id == bindparam("b_run_id"),
        _LANES.c.step_id == bindparam("b_step_id"),
        _LANES.c.environment == bindparam("b_environment"),
        _LANES.c.state == bindparam("b_expected"),
    )
    .values(
        state=bindparam("state"),
        last_execution_id=bindparam("last_execution_id"),
        changed_at=bindparam("changed_at"),
        changed_by=bindparam("changed_by"),
        version=_LANES.c.version + 1,
    )
    .returning(_LANES.c.version, _LANES.c.reason)
)
_SAVE_EXECUTION = (
    update(_EXECUTIONS_TABLE)
    .where(_EXECUTIONS.id == bindparam("execution_id"))
    .values(
        state=bindparam("state"),
        finished_at=bindparam("finished_at"),
        message=bindparam("message"),
        version=_EXECUTIONS.version + 1,
    )
)
_RESUME = (
    update(_EXECUTIONS_TABLE)
    .where(
        _EXECUTIONS.id == bindparam("b_id"),
        _EXECUTIONS.state == ExecutionState.WAITING.value,
        _EXECUTIONS.message.is_not_distinct_from(bindparam("b_waiting_for")),  # None: no message
    )
    .values(
        state=ExecutionState.RUNNING.value,
        owner=bindparam("v_owner"),
        heartbeat_at=bindparam("v_at"),
        version=_EXECUTIONS.version + 1,
    )
    .returning(_EXECUTIONS.id)
)
_TAKE_OVER = (
    update(_EXECUTIONS_TABLE)
    .where(
        _EXECUTIONS.id == bindparam("b_id"),
        _EXECUTIONS.state.in_(_UNFINISHED),
        func.coalesce(_EXECUTIONS.heartbeat_at, _EXECUTIONS.started_at) < bindparam("b_stale_before"),
    )
    .values(owner=bindparam("v_owner"), heartbeat_at=bindparam("v_at"), version=_EXECUTIONS.version + 1)
    .returning(_EXECUTIONS.id)
)
_HEARTBEAT = (
    update(_EXECUTIONS_TABLE)
    .where(
        _EXECUTIONS.id == bindparam("execution_id"),
        _EXECUTIONS.owner == bindparam("lease_owner"),
        _EXECUTIONS.state.in_(_UNFINISHED),
    )
    .values(heartbeat_at=bindparam("at"))
    .returning(_EXECUTIONS.id)
)


def _execution(row: Sequence[Any]) -> Execution:
    (
        id_,
        run_id,
        step_id,
        environment,
        kind,
        state,
        requested_by,
        plan_fingerprint,
        started_at,
        dry_run,
        reverts,
        finished_at,
        message,
        owner,
        heartbeat_at,
    ) = row
    return Execution(
        id=id_,
        run_id=run_id,
        step_id=step_id,
        environment=environment,
        kind=kind,
        state=ExecutionState(state),
        requested_by=requested_by,
        plan_fingerprint=plan_fingerprint,
        started_at=started_at,
        dry_run=dry_run,
        reverts=reverts,
        finished_at=finished_at,
        message=message,
        owner=owner,
        heartbeat_at=heartbeat_at,
    )


def _target(row: Sequence[Any]) -> TargetRecord:
    (
        execution_id,
        seq,
        action_index,
        action_line,
        target_key,
        target_label,
        snapshot,
        status,
        at,
        changes,
        message,
        mutating,
    ) = row
    return TargetRecord(
        execution_id=execution_id,
        seq=seq,
        action_index=action_index,
        action_line=action_line,
        target_key=target_key,
        target_label=target_label,
        snapshot=snapshot,
        status=TargetStatus(status),
        at=at,
        changes=list(changes),
        message=message,
        mutating=mutating,
    )


def _execution_values(execution: Execution, claim_key: str) -> dict[str, Any]:
    return {
        "id": execution.id,
        "run_id": execution.run_id,
        "step_id": execution.step_id,
        "environment": execution.environment,
        "kind": execution.kind,
        "state": execution.state.value,
        "requested_by": execution.requested_by,
        "plan_fingerprint": execution.plan_fingerprint,
        "started_at": execution.started_at,
        "dry_run": execution.dry_run,
        "reverts": execution.reverts,
        "finished_at": execution.finished_at,
        "message": execution.message,
        "claimed_by": execution.requested_by,
        "claim_key": claim_key,
        "version": 1,
        "owner": execution.owner,
        "heartbeat_at": execution.heartbeat_at,
    }


def _claim_lane(
    connection: Connection, lane: StepLane, expected: StepState, execution: Execution, audit: AuditEntry
) -> bool:
    # The conditional UPDATE is the claim: PostgreSQL re-checks the WHERE after a concurrent
    # writer commits, SQLite serialises writers; either way one caller sees a row come back.
    values = {
        "b_run_id": lane.run_id,
        "b_step_id": lane.step_id,
        "b_environment": lane.environment,
        "b_expected": expected.value,
        "state": lane.state.value,
        "last_execution_id": lane.last_execution_id,
        "changed_at": lane.changed_at,
        "changed_by": lane.changed_by,
    }
    won = connection.execute(_CLAIM_LANE, values).first()
    if won is None:
        return False
    version, reason = won
    record_lane_move(connection, replace(lane, reason=reason), expected.value)
    claim_key = f"{lane.run_id}/{lane.step_id}/{lane.environment}@{version}"
    connection.execute(_NEW_EXECUTION, [_execution_values(execution, claim_key)])
    append_entry(connection, audit)
    return True


def _execution_of(connection: Connection, execution_id: str) -> Execution | None:
    row = connection.execute(_EXECUTION, {"execution_id": execution_id}).first()
    return _execution(row) if row else None


def _executions(connection: Connection, statement: Any, values: dict[str, Any]) -> list[Execution]:
    return [_execution(row) for row in connection.execute(statement, values)]


def _targets_of(connection: Connection, execution_id: str) -> list[TargetRecord]:
    return [_target(row) for row in connection.execute(_TARGETS_OF, {"execution_id": execution_id})]


def _won(connection: Connection, statement: Any, values: dict[str, Any]) -> bool:
    """A conditional UPDATE ... RETURNING: True when it changed the row."""
    return connection.execute(statement, values).first() is not None


class ExecutionsStore(StoreBase):
    async def claim_lane(self, lane: StepLane, expected: StepState, execution: Execution, audit: AuditEntry) -> bool:
        return await self._write(_claim_lane, lane, expected, execution, audit)

    async def save_execution(self, execution: Execution) -> None:
        values = {
            "execution_id": execution.id,
            "state": execution.state.value,
            "finished_at": execution.finished_at,
            "message": execution.message,
        }
        await self._write(execute, _SAVE_EXECUTION, values)

    async def get_execution(self, execution_id: str) -> Execution | None:
        return await self._read(_execution_of, execution_id)

    async def executions(self, run_id: str) -> list[Execution]:
        return await self._read(_executions, _EXECUTIONS_OF, {"run_id": run_id})

    async def unfinished_executions(self) -> list[Execution]:
        return await self._read(_executions, _UNFINISHED_EXECUTIONS, {})

    async def heartbeat(self, execution_id: str, owner: str, at: datetime) -> bool:
        """Renew the lease; False once it is no longer ours. The most frequent write of a run (every
        third of a lease): one prebuilt Core UPDATE, its transaction run at once (StoreBase._write)."""
        return await self._write(_won, _HEARTBEAT, {"execution_id": execution_id, "lease_owner": owner, "at": at})

    async def resume_execution(self, execution_id: str, owner: str, at: datetime, waiting_for: str | None) -> bool:
        """A waiting execution goes back to running, owned by ``owner`` (a Done passed); one caller wins."""
        values = {"b_id": execution_id, "b_waiting_for": waiting_for, "v_owner": owner, "v_at": at}
        return await self._write(_won, _RESUME, values)

    async def take_over(self, execution_id: str, owner: str, stale_before: datetime, at: datetime) -> bool:
        # Like the claim, the WHERE is re-checked against a concurrent writer's commit, so of
        # several recovering replicas one wins, and an owner's fresh heartbeat makes all lose.
        values = {"b_id": execution_id, "b_stale_before": stale_before, "v_owner": owner, "v_at": at}
        return await self._write(_won, _TAKE_OVER, values)

    async def save_target(self, record: TargetRecord) -> None:
        values = {
            "execution_id": record.execution_id,
            "action_index": record.action_index,
            "target_key": record.target_key,
            "seq": record.seq,
            "action_line": record.action_line,
            "target_label": record.target_label,
            "snapshot": record.snapshot,
            "status": record.status.value,
            "at": record.at,
            "changes": list(record.changes),
            "message": record.message,
            "mutating": record.mutating,
        }
        await self._write(upsert, ExecutionTargetRow, values, ["execution_id", "action_index", "target_key"])

    async def targets(self, execution_id: str) -> list[TargetRecord]:
        return await self._read(_targets_of, execution_id)
