"""Executions: the once-only claim (lane, execution and audit row in one transaction), leases and
the write-ahead target records."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, func, select, update

from bot.engine.records import (
    AuditEntry,
    Execution,
    ExecutionState,
    StepLane,
    StepState,
    TargetRecord,
    TargetStatus,
)
from bot.store.audit import audit_row
from bot.store.base import StoreBase
from bot.store.runs import record_lane_move
from bot.store.tables import ExecutionRow, ExecutionTargetRow, StepLaneRow

_UNFINISHED = (ExecutionState.RUNNING.value, ExecutionState.VERIFYING.value)
_EXECUTIONS = ExecutionRow.__table__.c
# Built once: the statement was rebuilt and re-keyed on every beat (a third of its cost).
_HEARTBEAT = (
    update(ExecutionRow.__table__)  # type: ignore[arg-type]
    .where(
        _EXECUTIONS.id == bindparam("execution_id"),
        _EXECUTIONS.owner == bindparam("lease_owner"),
        _EXECUTIONS.state.in_(_UNFINISHED),
    )
    .values(heartbeat_at=bindparam("at"))
    .returning(_EXECUTIONS.id)
)


def _execution(row: ExecutionRow) -> Execution:
    return Execution(
        id=row.id,
        run_id=row.run_id,
        step_id=row.step_id,
        environment=row.environment,
        kind=row.kind,
        state=ExecutionState(row.state),
        requested_by=row.requested_by,
        plan_fingerprint=row.plan_fingerprint,
        started_at=row.started_at,
        dry_run=row.dry_run,
        reverts=row.reverts,
        finished_at=row.finished_at,
        message=row.message,
        owner=row.owner,
        heartbeat_at=row.heartbeat_at,
    )


def _target(row: ExecutionTargetRow) -> TargetRecord:
    return TargetRecord(
        execution_id=row.execution_id,
        seq=row.seq,
        action_index=row.action_index,
        action_line=row.action_line,
        target_key=row.target_key,
        target_label=row.target_label,
        snapshot=row.snapshot,
        status=TargetStatus(row.status),
        at=row.at,
        changes=list(row.changes),
        message=row.message,
        mutating=row.mutating,
    )


def _execution_row(execution: Execution, claim_key: str) -> ExecutionRow:
    return ExecutionRow(
        id=execution.id,
        run_id=execution.run_id,
        step_id=execution.step_id,
        environment=execution.environment,
        kind=execution.kind,
        state=execution.state.value,
        requested_by=execution.requested_by,
        plan_fingerprint=execution.plan_fingerprint,
        started_at=execution.started_at,
        dry_run=execution.dry_run,
        reverts=execution.reverts,
        finished_at=execution.finished_at,
        message=execution.message,
        claimed_by=execution.requested_by,
        claim_key=claim_key,
        version=1,
        owner=execution.owner,
        heartbeat_at=execution.heartbeat_at,
    )


class ExecutionsStore(StoreBase):
    async def claim_lane(self, lane: StepLane, expected: StepState, execution: Execution, audit: AuditEntry) -> bool:
        async with self._transaction() as session:
            # The conditional UPDATE is the claim: PostgreSQL re-checks the WHERE after a concurrent
            # writer commits, SQLite serialises writers; either way one caller sees a row come back.
            won = (
                await session.execute(
                    update(StepLaneRow)
                    .where(
                        StepLaneRow.run_id == lane.run_id,
                        StepLaneRow.step_id == lane.step_id,
                        StepLaneRow.environment == lane.environment,
                        StepLaneRow.state == expected.value,
                    )
                    .values(
                        state=lane.state.value,
                        last_execution_id=lane.last_execution_id,
                        changed_at=lane.changed_at,
                        changed_by=lane.changed_by,
                        version=StepLaneRow.version + 1,
                    )
                    .returning(StepLaneRow.version, StepLaneRow.reason)
                )
            ).first()
            if won is None:
                return False
            version, reason = won
            record_lane_move(session, replace(lane, reason=reason), expected.value)
            session.add(_execution_row(execution, f"{lane.run_id}/{lane.step_id}/{lane.environment}@{version}"))
            session.add(audit_row(audit))
            return True

    async def save_execution(self, execution: Execution) -> None:
        async with self._transaction() as session:
            await session.execute(
                update(ExecutionRow)
                .where(ExecutionRow.id == execution.id)
                .values(
                    state=execution.state.value,
                    finished_at=execution.finished_at,
                    message=execution.message,
                    version=ExecutionRow.version + 1,
                )
            )

    async def get_execution(self, execution_id: str) -> Execution | None:
        async with self._transaction() as session:
            row = await session.get(ExecutionRow, execution_id)
            return _execution(row) if row else None

    async def executions(self, run_id: str) -> list[Execution]:
        async with self._transaction() as session:
            query = (
                select(ExecutionRow)
                .where(ExecutionRow.run_id == run_id)
                .order_by(ExecutionRow.started_at, ExecutionRow.id)
            )
            return [_execution(row) for row in await session.scalars(query)]

    async def unfinished_executions(self) -> list[Execution]:
        async with self._transaction() as session:
            query = (
                select(ExecutionRow)
                .where(ExecutionRow.state.in_(_UNFINISHED))
                .order_by(ExecutionRow.started_at, ExecutionRow.id)
            )
            return [_execution(row) for row in await session.scalars(query)]

    async def heartbeat(self, execution_id: str, owner: str, at: datetime) -> bool:
        """Renew the lease; False once it is no longer ours. The most frequent write of a run (every
        third of a lease), so it is a Core UPDATE on the session's connection: the ORM's bulk-update
        bookkeeping would keep in step a session that holds nothing."""
        async with self._transaction() as session:
            connection = await session.connection()
            renewed = await connection.execute(
                _HEARTBEAT, {"execution_id": execution_id, "lease_owner": owner, "at": at}
            )
            return renewed.first() is not None

    async def resume_execution(self, execution_id: str, owner: str, at: datetime, waiting_for: str | None) -> bool:
        """A waiting execution goes back to running, owned by ``owner`` (a Done passed); one caller wins."""
        async with self._transaction() as session:
            resumed = await session.execute(
                update(ExecutionRow)
                .where(
                    ExecutionRow.id == execution_id,
                    ExecutionRow.state == ExecutionState.WAITING.value,
                    ExecutionRow.message == waiting_for,
                )
                .values(
                    state=ExecutionState.RUNNING.value,
                    owner=owner,
                    heartbeat_at=at,
                    version=ExecutionRow.version + 1,
                )
                .returning(ExecutionRow.id)
            )
            return resumed.first() is not None

    async def take_over(self, execution_id: str, owner: str, stale_before: datetime, at: datetime) -> bool:
        async with self._transaction() as session:
            # Like the claim, the WHERE is re-checked against a concurrent writer's commit, so of
            # several recovering replicas one wins, and an owner's fresh heartbeat makes all lose.
            last_sign_of_life = func.coalesce(ExecutionRow.heartbeat_at, ExecutionRow.started_at)
            taken = await session.execute(
                update(ExecutionRow)
                .where(
                    ExecutionRow.id == execution_id,
                    ExecutionRow.state.in_(_UNFINISHED),
                    last_sign_of_life < stale_before,
                )
                .values(owner=owner, heartbeat_at=at, version=ExecutionRow.version + 1)
                .returning(ExecutionRow.id)
            )
            return taken.first() is not None

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
        async with self._transaction() as session:
            await self._upsert(session, ExecutionTargetRow, values, keys=["execution_id", "action_index", "target_key"])

    async def targets(self, execution_id: str) -> list[TargetRecord]:
        async with self._transaction() as session:
            query = (
                select(ExecutionTargetRow)
                .where(ExecutionTargetRow.execution_id == execution_id)
                .order_by(ExecutionTargetRow.seq, ExecutionTargetRow.action_index)
            )
            return [_target(row) for row in await session.scalars(query)]
