"""Checklist ticks (unticks kept as history), waivers, approvals and gate records.

Each call is prebuilt Core statements run as one synchronous transaction (StoreBase._read and
_write), the rows mapped to the engine's records (issue 14: an ORM session cost more than the
statements it ran).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from bot.engine.records import Approval, ChecklistTick, GateRecord, HealthResult, SignOff, Waiver
from bot.store.base import StoreBase, execute, upsert
from bot.store.rows import columns_of
from bot.store.tables import ApprovalRow, ChecklistTickRow, GateRow, GateSignOffRow, StepLaneRow, WaiverRow

VOTE_TRIES = 3  # a vote whose lane row was missing can still meet another's insert; the index decides

_TICKS = cast(Table, ChecklistTickRow.__table__)
_WAIVERS = cast(Table, WaiverRow.__table__)
_APPROVALS = cast(Table, ApprovalRow.__table__)
_GATES = cast(Table, GateRow.__table__)
_SIGNOFFS = cast(Table, GateSignOffRow.__table__)
_LANES = cast(Table, StepLaneRow.__table__)

# An UPDATE's WHERE binds are named b_*: a parameter named as a column would be taken for a SET value.
_OF_SCOPE = (_TICKS.c.run_id == bindparam("run_id"), _TICKS.c.scope == bindparam("scope"))
_LIVE_TICK = (
    _TICKS.c.run_id == bindparam("b_run_id"),
    _TICKS.c.scope == bindparam("b_scope"),
    _TICKS.c.item_id == bindparam("b_item_id"),
    _TICKS.c.unticked_at.is_(None),
)
_RETICK = (
    update(_TICKS)
    .where(*_LIVE_TICK)
    .values(user_id=bindparam("v_user_id"), name=bindparam("v_name"), at=bindparam("v_at"))
    .returning(_TICKS.c.seq)
)
_NEW_TICK = insert(_TICKS)
_UNTICK = (
    update(_TICKS)
    .where(*_LIVE_TICK)
    .values(unticked_at=bindparam("v_unticked_at"), unticked_by=bindparam("v_unticked_by"))
    .returning(_TICKS.c.seq)
)
_TICK = columns_of(_TICKS, ChecklistTick)
_TICKS_OF = select(*_TICK).where(*_OF_SCOPE, _TICKS.c.unticked_at.is_(None)).order_by(_TICKS.c.at, _TICKS.c.seq)
_TICK_HISTORY = select(*_TICK, _TICKS.c.unticked_at).where(*_OF_SCOPE).order_by(_TICKS.c.seq)
_RUN_TICKS = (
    select(*_TICK)
    .where(_TICKS.c.run_id == bindparam("run_id"), _TICKS.c.unticked_at.is_(None))
    .order_by(_TICKS.c.at, _TICKS.c.seq)
)
_NEW_WAIVER = insert(_WAIVERS)
_WAIVERS_OF = (
    select(*columns_of(_WAIVERS, Waiver))
    .where(_WAIVERS.c.run_id == bindparam("run_id"), _WAIVERS.c.scope == bindparam("scope"))
    .order_by(_WAIVERS.c.at, _WAIVERS.c.id)
)
_APPROVAL = columns_of(_APPROVALS, Approval)
_APPROVALS_OF = (
    select(*_APPROVAL)
    .where(
        _APPROVALS.c.run_id == bindparam("run_id"),
        _APPROVALS.c.step_id == bindparam("step_id"),
        _APPROVALS.c.environment == bindparam("environment"),
    )
    .order_by(_APPROVALS.c.at, _APPROVALS.c.id)
)
_RUN_APPROVALS = (
    select(*_APPROVAL).where(_APPROVALS.c.run_id == bindparam("run_id")).order_by(_APPROVALS.c.at, _APPROVALS.c.id)
)
_LOCK_LANE = (
    select(_LANES.c.version)
    .where(
        _LANES.c.run_id == bindparam("run_id"),
        _LANES.c.step_id == bindparam("step_id"),
        _LANES.c.environment == bindparam("environment"),
    )
    .with_for_update()
)
_SUPERSEDE = (
    update(_APPROVALS)
    .where(
        _APPROVALS.c.run_id == bindparam("b_run_id"),
        _APPROVALS.c.step_id == bindparam("b_step_id"),
        _APPROVALS.c.environment == bindparam("b_environment"),
        _APPROVALS.c.user_id == bindparam("b_user_id"),
        _APPROVALS.c.withdrawn_at.is_(None),
    )
    .values(withdrawn_at=bindparam("v_withdrawn_at"), withdrawn_reason=bindparam("v_withdrawn_reason"))
)
_GATE = select(_GATES).where(_GATES.c.run_id == bindparam("run_id"), _GATES.c.gate_id == bindparam("gate_id"))
_GATE_FIELDS = ("health", "decision", "decided_by", "decided_by_name", "decided_at", "reason")
_MOVE_GATE = (
    update(_GATES)
    .where(
        _GATES.c.run_id == bindparam("b_run_id"),
        _GATES.c.gate_id == bindparam("b_gate_id"),
        _GATES.c.version == bindparam("b_version"),
    )
    .values(version=_GATES.c.version + 1, **{name: bindparam(f"v_{name}") for name in _GATE_FIELDS})
    .returning(_GATES.c.version)
)
_OF_GATE_SIGNOFFS = (_SIGNOFFS.c.run_id == bindparam("run_id"), _SIGNOFFS.c.gate_id == bindparam("gate_id"))
_SIGNOFFS_OF = select(_SIGNOFFS).where(*_OF_GATE_SIGNOFFS).order_by(_SIGNOFFS.c.seq)
_DROP_SIGNOFFS = delete(_SIGNOFFS).where(_SIGNOFFS.c.seq.in_(bindparam("seqs", expanding=True)))
_NEW_SIGNOFF = insert(_SIGNOFFS)


def _tick(row: Sequence[Any]) -> ChecklistTick:
    return ChecklistTick(*row)  # the columns of _TICK, in ChecklistTick's field order


def _waiver(row: Sequence[Any]) -> Waiver:
    return Waiver(*row)  # selected by columns_of, in Waiver's field order


def _approval(row: Sequence[Any]) -> Approval:
    return Approval(*row)  # the columns of _APPROVAL, in Approval's field order


def _health_json(result: HealthResult) -> dict[str, Any]:
    data = asdict(result)
    data["checked_at"] = result.checked_at.isoformat()
    return data


def _health(data: dict[str, Any]) -> HealthResult:
    return HealthResult(**{**data, "checked_at": datetime.fromisoformat(data["checked_at"])})


def _put_tick(connection: Connection, tick: ChecklistTick) -> None:
    key = {"b_run_id": tick.run_id, "b_scope": tick.scope, "b_item_id": tick.item_id}
    retick = {**key, "v_user_id": tick.user_id, "v_name": tick.name, "v_at": tick.at}
    if connection.execute(_RETICK, retick).first() is None:
        values = {"run_id": tick.run_id, "scope": tick.scope, "item_id": tick.item_id}
        connection.execute(_NEW_TICK, [{**values, "user_id": tick.user_id, "name": tick.name, "at": tick.at}])


def _unticked(connection: Connection, values: dict[str, Any]) -> bool:
    return connection.execute(_UNTICK, values).first() is not None


def _rows(connection: Connection, statement: Any, values: dict[str, Any]) -> list[Row[Any]]:
    return list(connection.execute(statement, values))


def _ticks(connection: Connection, statement: Any, values: dict[str, Any]) -> list[ChecklistTick]:
    return [_tick(row) for row in connection.execute(statement, values)]


def _approvals(connection: Connection, statement: Any, values: dict[str, Any]) -> list[Approval]:
    return [_approval(row) for row in connection.execute(statement, values)]


def _vote(connection: Connection, vote: Approval, reason: str) -> None:
    """Withdraw the voter's active votes on the lane (its row locked first) and store ``vote``."""
    connection.execute(_LOCK_LANE, {"run_id": vote.run_id, "step_id": vote.step_id, "environment": vote.environment})
    superseded = {
        "b_run_id": vote.run_id,
        "b_step_id": vote.step_id,
        "b_environment": vote.environment,
        "b_user_id": vote.user_id,
        "v_withdrawn_at": vote.at,
        "v_withdrawn_reason": reason,
    }
    connection.execute(_SUPERSEDE, superseded)
    upsert(connection, ApprovalRow, asdict(vote), keys=["id"])


def _gate(connection: Connection, run_id: str, gate_id: str) -> GateRecord | None:
    key = {"run_id": run_id, "gate_id": gate_id}
    row = connection.execute(_GATE, key).first()
    if row is None:
        return None
    signoffs = connection.execute(_SIGNOFFS_OF, key)
    return GateRecord(
        run_id=row.run_id,
        gate_id=row.gate_id,
        health=[_health(item) for item in row.health],
        decision=row.decision,
        decided_by=row.decided_by,
        decided_by_name=row.decided_by_name,
        decided_at=row.decided_at,
        reason=row.reason,
        signoffs=[SignOff(role=s.role, user_id=s.user_id, name=s.name, at=s.at) for s in signoffs],
        version=row.version,
    )


def _save_gate(connection: Connection, record: GateRecord) -> bool:
    values = {
        "health": [_health_json(result) for result in record.health],
        "decision": record.decision,
        "decided_by": record.decided_by,
        "decided_by_name": record.decided_by_name,
        "decided_at": record.decided_at,
        "reason": record.reason,
    }
    key = {"run_id": record.run_id, "gate_id": record.gate_id}
    if record.version == 0:
        dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        statement = (
            dialect_insert(_GATES)
            .values(**key, version=1, **values)
            .on_conflict_do_nothing(index_elements=["run_id", "gate_id"])
            .returning(_GATES.c.version)
        )
        won = connection.execute(statement).first()
    else:
        moved = {
            "b_run_id": record.run_id,
            "b_gate_id": record.gate_id,
            "b_version": record.version,
            **{f"v_{name}": value for name, value in values.items()},
        }
        won = connection.execute(_MOVE_GATE, moved).first()
    if won is None:
        return False
    _replace_signoffs(connection, record)
    return True


def _replace_signoffs(connection: Connection, record: GateRecord) -> None:
    """Delete the sign-offs the record no longer has and add its new ones; the rest stay as stored."""
    key = {"run_id": record.run_id, "gate_id": record.gate_id}
    stored = {(row.role, row.user_id): row.seq for row in connection.execute(_SIGNOFFS_OF, key)}
    wanted = {(s.role, s.user_id): s for s in record.signoffs}
    gone = [seq for who, seq in stored.items() if who not in wanted]
    if gone:
        connection.execute(_DROP_SIGNOFFS, {"seqs": gone})
    added = [
        {**key, "role": s.role, "user_id": s.user_id, "name": s.name, "at": s.at}
        for who, s in wanted.items()
        if who not in stored
    ]
    if added:
        connection.execute(_NEW_SIGNOFF, added)


class ChecklistStore(StoreBase):
    async def put_tick(self, tick: ChecklistTick) -> None:
        await self._write(_put_tick, tick)

    async def remove_tick(self, run_id: str, scope: str, item_id: str, by: str | None = None) -> bool:
        """Close the live tick (kept as history with who and when); False when it was not ticked."""
        values = {
            "b_run_id": run_id,
            "b_scope": scope,
            "b_item_id": item_id,
            "v_unticked_at": self.clock.now(),
            "v_unticked_by": by,
        }
        return await self._write(_unticked, values)

    async def ticks(self, run_id: str, scope: str) -> list[ChecklistTick]:
        return await self._read(_ticks, _TICKS_OF, {"run_id": run_id, "scope": scope})

    async def tick_history(self, run_id: str, scope: str) -> list[tuple[ChecklistTick, datetime | None]]:
        """Every tick of the scope, unticked ones included, with when it was unticked; oldest first."""
        rows = await self._read(_rows, _TICK_HISTORY, {"run_id": run_id, "scope": scope})
        return [(_tick(row[:-1]), row[-1]) for row in rows]

    async def add_waiver(self, waiver: Waiver) -> None:
        await self._write(execute, _NEW_WAIVER, [asdict(waiver)])

    async def waivers(self, run_id: str, scope: str) -> list[Waiver]:
        rows = await self._read(_rows, _WAIVERS_OF, {"run_id": run_id, "scope": scope})
        return [_waiver(row) for row in rows]

    async def save_approval(self, approval: Approval) -> None:
        await self._write(upsert, ApprovalRow, asdict(approval), ["id"])

    async def cast_vote(self, vote: Approval, superseded_reason: str) -> None:
        """Withdraw the voter's active votes on the lane and store ``vote``, in one transaction.

        The lane's row is locked first, so votes on one lane queue (PostgreSQL; SQLite's writers
        queue anyway); the partial unique index ``uq_approvals_active_vote`` is the last word: a
        vote that still meets another active one is tried again, now superseding it.
        """
        for attempt in range(VOTE_TRIES):
            try:
                await self._write(_vote, vote, superseded_reason)
                return
            except IntegrityError:
                if attempt == VOTE_TRIES - 1:
                    raise

    async def run_ticks(self, run_id: str) -> list[ChecklistTick]:
        """Every standing tick of the run, all scopes, oldest first (the web timeline: one query, not one per step)."""
        return await self._read(_ticks, _RUN_TICKS, {"run_id": run_id})

    async def run_approvals(self, run_id: str) -> list[Approval]:
        """Every vote of the run, all lanes, withdrawn ones included, oldest first (the web timeline)."""
        return await self._read(_approvals, _RUN_APPROVALS, {"run_id": run_id})

    async def approvals(self, run_id: str, step_id: str, environment: str) -> list[Approval]:
        lane = {"run_id": run_id, "step_id": step_id, "environment": environment}
        return await self._read(_approvals, _APPROVALS_OF, lane)

    async def get_gate(self, run_id: str, gate_id: str) -> GateRecord | None:
        return await self._read(_gate, run_id, gate_id)

    async def save_gate(self, record: GateRecord) -> bool:
        """Compare-and-set on ``version``; the sign-offs change only in the transaction that won.

        PostgreSQL makes a concurrent UPDATE (or INSERT) wait for the winner's commit and then
        finds the version moved on; SQLite serialises writers (BEGIN IMMEDIATE).
        """
        return await self._write(_save_gate, record)
