"""Runs and their step lanes: one open run per channel, compare-and-set lane moves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot.engine.records import AuditEntry, Run, RunState, StepLane, StepState
from bot.store.audit import append_entry
from bot.store.base import StoreBase, execute
from bot.store.rows import columns_of
from bot.store.tables import RunRow, StepLaneHistoryRow, StepLaneRow
from bot.store.tables.runs import OPEN_RUN_SQL

_RUNS_TABLE = cast(Table, RunRow.__table__)
_RUN = columns_of(_RUNS_TABLE, Run)
# Built once: making a statement and its cache key cost more than running it (issue 14). Read as
# Core rows (StoreBase._read): the channel's run is the answer path's hottest read.
_RUN_BY_ID = select(*_RUN).where(_RUNS_TABLE.c.id == bindparam("run_id"))
_OPEN_RUN_OF = select(*_RUN).where(_RUNS_TABLE.c.channel == bindparam("channel"), OPEN_RUN_SQL)
_LANES_TABLE = cast(Table, StepLaneRow.__table__)
_LANES_OF = (
    select(*columns_of(_LANES_TABLE, StepLane))
    .where(_LANES_TABLE.c.run_id == bindparam("run_id"))
    .order_by(_LANES_TABLE.c.step_id, _LANES_TABLE.c.environment)
)
_LANE = _LANES_OF.where(
    _LANES_TABLE.c.step_id == bindparam("step_id"), _LANES_TABLE.c.environment == bindparam("environment")
)
_OPEN_RUNS = select(*_RUN).where(OPEN_RUN_SQL).order_by(_RUNS_TABLE.c.created_at, _RUNS_TABLE.c.id)
_RUNS = select(*_RUN).order_by(_RUNS_TABLE.c.created_at, _RUNS_TABLE.c.id)
_SAVE_RUN = (
    update(_RUNS_TABLE)
    .where(_RUNS_TABLE.c.id == bindparam("run_id"))
    .values(
        state=bindparam("state"),
        reason=bindparam("reason"),
        finished_at=bindparam("finished_at"),
        version=_RUNS_TABLE.c.version + 1,
    )
)
_LANE_MOVES = cast(Table, StepLaneHistoryRow.__table__)
_RECORD_MOVE = insert(_LANE_MOVES)
_MOVES_OF = (
    select(_LANE_MOVES.c.from_state, _LANE_MOVES.c.to_state)
    .where(
        _LANE_MOVES.c.run_id == bindparam("run_id"),
        _LANE_MOVES.c.step_id == bindparam("step_id"),
        _LANE_MOVES.c.environment == bindparam("environment"),
    )
    .order_by(_LANE_MOVES.c.seq)
)
_LANE_FIELDS = ("state", "reason", "changed_at", "changed_by", "last_execution_id", "requested_by")
_NEW_LANE = insert(_LANES_TABLE).values(version=1)
# A compare-and-set: the lane moves only from the state its caller saw (b_* name the key and the
# expected state, apart from the columns the move sets).
_MOVE_LANE = (
    update(_LANES_TABLE)
    .where(
        _LANES_TABLE.c.run_id == bindparam("b_run_id"),
        _LANES_TABLE.c.step_id == bindparam("b_step_id"),
        _LANES_TABLE.c.environment == bindparam("b_environment"),
        _LANES_TABLE.c.state == bindparam("b_expected"),
    )
    .values(version=_LANES_TABLE.c.version + 1, **{name: bindparam(name) for name in _LANE_FIELDS})
    .returning(_LANES_TABLE.c.version)
)


def _run(row: Sequence[Any]) -> Run:
    id_, runbook_id, channel, start_date, state, created_at, created_by, dry_run, reason, finished_at = row
    return Run(
        id=id_,
        runbook_id=runbook_id,
        channel=channel,
        start_date=start_date,
        state=RunState(state),
        created_at=created_at,
        created_by=created_by,
        dry_run=dry_run,
        reason=reason,
        finished_at=finished_at,
    )


def _lane(row: Sequence[Any]) -> StepLane:
    run_id, step_id, environment, state, reason, changed_at, changed_by, last_execution_id, requested_by = row
    return StepLane(
        run_id=run_id,
        step_id=step_id,
        environment=environment,
        state=StepState(state),
        reason=reason,
        changed_at=changed_at,
        changed_by=changed_by,
        last_execution_id=last_execution_id,
        requested_by=requested_by,
    )


def record_lane_move(connection: Connection, lane: StepLane, before: str | None) -> None:
    """Append the move to the lane's history, in the transaction that made it."""
    connection.execute(
        _RECORD_MOVE,
        [
            {
                "run_id": lane.run_id,
                "step_id": lane.step_id,
                "environment": lane.environment,
                "from_state": before,
                "to_state": lane.state.value,
                "reason": lane.reason,
                "at": lane.changed_at,
                "by": lane.changed_by,
            }
        ],
    )


def _run_by_id(connection: Connection, run_id: str) -> Run | None:
    row = connection.execute(_RUN_BY_ID, {"run_id": run_id}).first()
    return _run(row) if row else None


def open_run_of(connection: Connection, channel: str) -> Run | None:
    """The channel's open run, in ``connection``'s transaction (also a request's first look, first_look.py)."""
    row = connection.execute(_OPEN_RUN_OF, {"channel": channel}).first()
    return _run(row) if row else None


def _all_runs(connection: Connection, statement: Any) -> list[Run]:
    return [_run(row) for row in connection.execute(statement)]


def _lane_of(connection: Connection, run_id: str, step_id: str, environment: str) -> StepLane | None:
    values = {"run_id": run_id, "step_id": step_id, "environment": environment}
    row = connection.execute(_LANE, values).first()
    return _lane(row) if row else None


def _lanes_of(connection: Connection, run_id: str) -> list[StepLane]:
    return [_lane(row) for row in connection.execute(_LANES_OF, {"run_id": run_id})]


def _moves_of(connection: Connection, run_id: str, step_id: str, environment: str) -> list[tuple[str | None, str]]:
    values = {"run_id": run_id, "step_id": step_id, "environment": environment}
    return [(before, after) for before, after in connection.execute(_MOVES_OF, values)]


def _lane_values(lane: StepLane) -> dict[str, Any]:
    return {
        "state": lane.state.value,
        "reason": lane.reason,
        "changed_at": lane.changed_at,
        "changed_by": lane.changed_by,
        "last_execution_id": lane.last_execution_id,
        "requested_by": lane.requested_by,
    }


def _put_lane(connection: Connection, lane: StepLane, expected: StepState | None, audit: AuditEntry | None) -> bool:
    if expected is None:
        key = {"run_id": lane.run_id, "step_id": lane.step_id, "environment": lane.environment}
        connection.execute(_NEW_LANE, [{**key, **_lane_values(lane)}])
    else:
        where = {
            "b_run_id": lane.run_id,
            "b_step_id": lane.step_id,
            "b_environment": lane.environment,
            "b_expected": expected.value,
        }
        if connection.execute(_MOVE_LANE, {**where, **_lane_values(lane)}).first() is None:
            return False
    record_lane_move(connection, lane, None if expected is None else expected.value)
    if audit is not None:
        append_entry(connection, audit)
    return True


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
        return await self._read(_run_by_id, run_id)

    async def open_run(self, channel: str) -> Run | None:
        return await self._read(open_run_of, channel)

    async def open_runs(self) -> list[Run]:
        return await self._read(_all_runs, _OPEN_RUNS)

    async def runs(self) -> list[Run]:
        """Every run, open or not, oldest first (the web timeline's list of runs)."""
        return await self._read(_all_runs, _RUNS)

    async def save_run(self, run: Run) -> None:
        values = {"run_id": run.id, "state": run.state.value, "reason": run.reason, "finished_at": run.finished_at}
        await self._write(execute, _SAVE_RUN, values)

    async def get_lane(self, run_id: str, step_id: str, environment: str) -> StepLane | None:
        return await self._read(_lane_of, run_id, step_id, environment)

    async def lanes(self, run_id: str) -> list[StepLane]:
        return await self._read(_lanes_of, run_id)

    async def lane_history(self, run_id: str, step_id: str, environment: str) -> list[tuple[str | None, str]]:
        """The (from, to) states a lane went through, oldest first."""
        return await self._read(_moves_of, run_id, step_id, environment)

    async def put_lane(self, lane: StepLane, expected: StepState | None, audit: AuditEntry | None = None) -> bool:
        """Insert the lane (``expected`` None: False when it exists) or move it from ``expected``
        (False when it is no longer there), with its history row and ``audit`` in one transaction."""
        try:
            return await self._write(_put_lane, lane, expected, audit)
        except IntegrityError:
            if expected is not None:
                raise
            return False
