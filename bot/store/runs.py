"""Runs and their step lanes: one open run per channel, compare-and-set lane moves."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.records import AuditEntry, Run, RunState, StepLane, StepState
from bot.store.audit import audit_row
from bot.store.base import StoreBase
from bot.store.tables import RunRow, StepLaneHistoryRow, StepLaneRow
from bot.store.tables.runs import OPEN_RUN_SQL

_RUNS_TABLE = cast(Table, RunRow.__table__)
# Built once: making a statement and its cache key cost more than running it (issue 14). Read as
# Core rows (StoreBase._reading): the channel's run is the answer path's hottest read.
_RUN_BY_ID = select(_RUNS_TABLE).where(_RUNS_TABLE.c.id == bindparam("run_id"))
_OPEN_RUN_OF = select(_RUNS_TABLE).where(_RUNS_TABLE.c.channel == bindparam("channel"), OPEN_RUN_SQL)
_LANES_TABLE = cast(Table, StepLaneRow.__table__)
_LANES_OF = (
    select(_LANES_TABLE)
    .where(_LANES_TABLE.c.run_id == bindparam("run_id"))
    .order_by(_LANES_TABLE.c.step_id, _LANES_TABLE.c.environment)
)
_LANE = _LANES_OF.where(
    _LANES_TABLE.c.step_id == bindparam("step_id"), _LANES_TABLE.c.environment == bindparam("environment")
)
_OPEN_RUNS = select(_RUNS_TABLE).where(OPEN_RUN_SQL).order_by(_RUNS_TABLE.c.created_at, _RUNS_TABLE.c.id)


def _run(row: RunRow | Row[Any]) -> Run:
    return Run(
        id=row.id,
        runbook_id=row.runbook_id,
        channel=row.channel,
        start_date=row.start_date,
        state=RunState(row.state),
        created_at=row.created_at,
        created_by=row.created_by,
        dry_run=row.dry_run,
        reason=row.reason,
        finished_at=row.finished_at,
    )


def _lane(row: StepLaneRow | Row[Any]) -> StepLane:
    return StepLane(
        run_id=row.run_id,
        step_id=row.step_id,
        environment=row.environment,
        state=StepState(row.state),
        reason=row.reason,
        changed_at=row.changed_at,
        changed_by=row.changed_by,
        last_execution_id=row.last_execution_id,
        requested_by=row.requested_by,
    )


def record_lane_move(session: AsyncSession, lane: StepLane, before: str | None) -> None:
    """Append the move to the lane's history, in the transaction that made it."""
    session.add(
        StepLaneHistoryRow(
            run_id=lane.run_id,
            step_id=lane.step_id,
            environment=lane.environment,
            from_state=before,
            to_state=lane.state.value,
            reason=lane.reason,
            at=lane.changed_at,
            by=lane.changed_by,
        )
    )


class RunsStore(StoreBase):
    async def create_run(self, run: Run) -> Run:
        try:
            async with self._transaction() as session:
                session.add(
                    RunRow(
                        id=run.id,
                        runbook_id=run.runbook_id,
                        channel=run.channel,
                        start_date=run.start_date,
                        state=run.state.value,
                        created_at=run.created_at,
                        created_by=run.created_by,
                        dry_run=run.dry_run,
                        reason=run.reason,
                        finished_at=run.finished_at,
                        version=1,
                    )
                )
            return run
        except IntegrityError:
            existing = await self.open_run(run.channel)
            if existing is None:  # the conflict was on the id, not on the channel
                raise
            return existing

    async def get_run(self, run_id: str) -> Run | None:
        async with self._reading() as connection:
            row = (await connection.execute(_RUN_BY_ID, {"run_id": run_id})).first()
            return _run(row) if row else None

    async def open_run(self, channel: str) -> Run | None:
        async with self._reading() as connection:
            row = (await connection.execute(_OPEN_RUN_OF, {"channel": channel})).first()
            return _run(row) if row else None

    async def open_runs(self) -> list[Run]:
        async with self._reading() as connection:
            return [_run(row) for row in await connection.execute(_OPEN_RUNS)]

    async def runs(self) -> list[Run]:
        """Every run, open or not, oldest first (the web timeline's list of runs)."""
        async with self._transaction() as session:
            query = select(RunRow).order_by(RunRow.created_at, RunRow.id)
            return [_run(row) for row in await session.scalars(query)]

    async def save_run(self, run: Run) -> None:
        async with self._transaction() as session:
            await session.execute(
                update(RunRow)
                .where(RunRow.id == run.id)
                .values(
                    state=run.state.value,
                    reason=run.reason,
                    finished_at=run.finished_at,
                    version=RunRow.version + 1,
                )
            )

    async def get_lane(self, run_id: str, step_id: str, environment: str) -> StepLane | None:
        async with self._reading() as connection:
            values = {"run_id": run_id, "step_id": step_id, "environment": environment}
            row = (await connection.execute(_LANE, values)).first()
            return _lane(row) if row else None

    async def lanes(self, run_id: str) -> list[StepLane]:
        async with self._reading() as connection:
            return [_lane(row) for row in await connection.execute(_LANES_OF, {"run_id": run_id})]

    async def lane_history(self, run_id: str, step_id: str, environment: str) -> list[tuple[str | None, str]]:
        """The (from, to) states a lane went through, oldest first."""
        async with self._transaction() as session:
            query = (
                select(StepLaneHistoryRow.from_state, StepLaneHistoryRow.to_state)
                .where(
                    StepLaneHistoryRow.run_id == run_id,
                    StepLaneHistoryRow.step_id == step_id,
                    StepLaneHistoryRow.environment == environment,
                )
                .order_by(StepLaneHistoryRow.seq)
            )
            return [(before, after) for before, after in (await session.execute(query)).all()]

    async def put_lane(self, lane: StepLane, expected: StepState | None, audit: AuditEntry | None = None) -> bool:
        values = {
            "state": lane.state.value,
            "reason": lane.reason,
            "changed_at": lane.changed_at,
            "changed_by": lane.changed_by,
            "last_execution_id": lane.last_execution_id,
            "requested_by": lane.requested_by,
        }
        if expected is None:
            try:
                async with self._transaction() as session:
                    await session.execute(
                        insert(StepLaneRow).values(
                            run_id=lane.run_id,
                            step_id=lane.step_id,
                            environment=lane.environment,
                            version=1,
                            **values,
                        )
                    )
                    record_lane_move(session, lane, None)
                    if audit is not None:
                        session.add(audit_row(audit))
                return True
            except IntegrityError:
                return False
        async with self._transaction() as session:
            result = await session.execute(
                update(StepLaneRow)
                .where(
                    StepLaneRow.run_id == lane.run_id,
                    StepLaneRow.step_id == lane.step_id,
                    StepLaneRow.environment == lane.environment,
                    StepLaneRow.state == expected.value,
                )
                .values(version=StepLaneRow.version + 1, **values)
                .returning(StepLaneRow.version)
            )
            if result.first() is None:
                return False
            record_lane_move(session, lane, expected.value)
            if audit is not None:
                session.add(audit_row(audit))
            return True
