"""Checklist ticks (unticks kept as history), waivers, approvals and gate records."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.records import Approval, ChecklistTick, GateRecord, HealthResult, SignOff, Waiver
from bot.store.base import StoreBase
from bot.store.tables import ApprovalRow, ChecklistTickRow, GateRow, GateSignOffRow, StepLaneRow, WaiverRow

VOTE_TRIES = 3  # a vote whose lane row was missing can still meet another's insert; the index decides


def _live_tick(run_id: str, scope: str, item_id: str) -> Any:
    return (
        (ChecklistTickRow.run_id == run_id)
        & (ChecklistTickRow.scope == scope)
        & (ChecklistTickRow.item_id == item_id)
        & ChecklistTickRow.unticked_at.is_(None)
    )


def _approval(row: ApprovalRow) -> Approval:
    return Approval(
        id=row.id,
        run_id=row.run_id,
        step_id=row.step_id,
        environment=row.environment,
        role=row.role,
        user_id=row.user_id,
        name=row.name,
        decision=row.decision,
        at=row.at,
        plan_fingerprint=row.plan_fingerprint,
        reason=row.reason,
        withdrawn_at=row.withdrawn_at,
        withdrawn_reason=row.withdrawn_reason,
    )


def _health_json(result: HealthResult) -> dict[str, Any]:
    data = asdict(result)
    data["checked_at"] = result.checked_at.isoformat()
    return data


def _health(data: dict[str, Any]) -> HealthResult:
    return HealthResult(**{**data, "checked_at": datetime.fromisoformat(data["checked_at"])})


class ChecklistStore(StoreBase):
    async def put_tick(self, tick: ChecklistTick) -> None:
        async with self._transaction() as session:
            result = await session.execute(
                update(ChecklistTickRow)
                .where(_live_tick(tick.run_id, tick.scope, tick.item_id))
                .values(user_id=tick.user_id, name=tick.name, at=tick.at)
                .returning(ChecklistTickRow.seq)
            )
            if result.first() is None:
                session.add(
                    ChecklistTickRow(
                        run_id=tick.run_id,
                        scope=tick.scope,
                        item_id=tick.item_id,
                        user_id=tick.user_id,
                        name=tick.name,
                        at=tick.at,
                    )
                )

    async def remove_tick(self, run_id: str, scope: str, item_id: str, by: str | None = None) -> bool:
        """Close the live tick (kept as history with who and when); False when it was not ticked."""
        async with self._transaction() as session:
            result = await session.execute(
                update(ChecklistTickRow)
                .where(_live_tick(run_id, scope, item_id))
                .values(unticked_at=self.clock.now(), unticked_by=by)
                .returning(ChecklistTickRow.seq)
            )
            return result.first() is not None

    async def ticks(self, run_id: str, scope: str) -> list[ChecklistTick]:
        async with self._transaction() as session:
            query = (
                select(ChecklistTickRow)
                .where(
                    ChecklistTickRow.run_id == run_id,
                    ChecklistTickRow.scope == scope,
                    ChecklistTickRow.unticked_at.is_(None),
                )
                .order_by(ChecklistTickRow.at, ChecklistTickRow.seq)
            )
            return [
                ChecklistTick(
                    run_id=row.run_id,
                    scope=row.scope,
                    item_id=row.item_id,
                    user_id=row.user_id,
                    name=row.name,
                    at=row.at,
                )
                for row in await session.scalars(query)
            ]

    async def tick_history(self, run_id: str, scope: str) -> list[tuple[ChecklistTick, datetime | None]]:
        """Every tick of the scope, unticked ones included, with when it was unticked; oldest first."""
        async with self._transaction() as session:
            query = (
                select(ChecklistTickRow)
                .where(ChecklistTickRow.run_id == run_id, ChecklistTickRow.scope == scope)
                .order_by(ChecklistTickRow.seq)
            )
            return [
                (
                    ChecklistTick(row.run_id, row.scope, row.item_id, row.user_id, row.name, row.at),
                    row.unticked_at,
                )
                for row in await session.scalars(query)
            ]

    async def add_waiver(self, waiver: Waiver) -> None:
        async with self._transaction() as session:
            session.add(WaiverRow(**asdict(waiver)))

    async def waivers(self, run_id: str, scope: str) -> list[Waiver]:
        async with self._transaction() as session:
            query = (
                select(WaiverRow)
                .where(WaiverRow.run_id == run_id, WaiverRow.scope == scope)
                .order_by(WaiverRow.at, WaiverRow.id)
            )
            return [
                Waiver(
                    id=row.id,
                    run_id=row.run_id,
                    scope=row.scope,
                    item_id=row.item_id,
                    user_id=row.user_id,
                    name=row.name,
                    reason=row.reason,
                    at=row.at,
                )
                for row in await session.scalars(query)
            ]

    async def save_approval(self, approval: Approval) -> None:
        async with self._transaction() as session:
            await self._upsert(session, ApprovalRow, asdict(approval), keys=["id"])

    async def cast_vote(self, vote: Approval, superseded_reason: str) -> None:
        """Withdraw the voter's active votes on the lane and store ``vote``, in one transaction.

        The lane's row is locked first, so votes on one lane queue (PostgreSQL; SQLite's writers
        queue anyway); the partial unique index ``uq_approvals_active_vote`` is the last word: a
        vote that still meets another active one is tried again, now superseding it.
        """
        for attempt in range(VOTE_TRIES):
            try:
                async with self._transaction() as session:
                    await self._supersede(session, vote, superseded_reason)
                    await self._upsert(session, ApprovalRow, asdict(vote), keys=["id"])
                return
            except IntegrityError:
                if attempt == VOTE_TRIES - 1:
                    raise

    async def _supersede(self, session: AsyncSession, vote: Approval, reason: str) -> None:
        lane = (
            (StepLaneRow.run_id == vote.run_id)
            & (StepLaneRow.step_id == vote.step_id)
            & (StepLaneRow.environment == vote.environment)
        )
        await session.execute(select(StepLaneRow.version).where(lane).with_for_update())
        await session.execute(
            update(ApprovalRow)
            .where(
                ApprovalRow.run_id == vote.run_id,
                ApprovalRow.step_id == vote.step_id,
                ApprovalRow.environment == vote.environment,
                ApprovalRow.user_id == vote.user_id,
                ApprovalRow.withdrawn_at.is_(None),
            )
            .values(withdrawn_at=vote.at, withdrawn_reason=reason)
        )

    async def run_ticks(self, run_id: str) -> list[ChecklistTick]:
        """Every standing tick of the run, all scopes, oldest first (the web timeline: one query, not one per step)."""
        async with self._transaction() as session:
            query = (
                select(ChecklistTickRow)
                .where(ChecklistTickRow.run_id == run_id, ChecklistTickRow.unticked_at.is_(None))
                .order_by(ChecklistTickRow.at, ChecklistTickRow.seq)
            )
            return [
                ChecklistTick(row.run_id, row.scope, row.item_id, row.user_id, row.name, row.at)
                for row in await session.scalars(query)
            ]

    async def run_approvals(self, run_id: str) -> list[Approval]:
        """Every vote of the run, all lanes, withdrawn ones included, oldest first (the web timeline)."""
        async with self._transaction() as session:
            query = select(ApprovalRow).where(ApprovalRow.run_id == run_id).order_by(ApprovalRow.at, ApprovalRow.id)
            return [_approval(row) for row in await session.scalars(query)]

    async def approvals(self, run_id: str, step_id: str, environment: str) -> list[Approval]:
        async with self._transaction() as session:
            query = (
                select(ApprovalRow)
                .where(
                    ApprovalRow.run_id == run_id,
                    ApprovalRow.step_id == step_id,
                    ApprovalRow.environment == environment,
                )
                .order_by(ApprovalRow.at, ApprovalRow.id)
            )
            return [_approval(row) for row in await session.scalars(query)]

    async def get_gate(self, run_id: str, gate_id: str) -> GateRecord | None:
        async with self._transaction() as session:
            row = await session.get(GateRow, (run_id, gate_id))
            if row is None:
                return None
            signoffs = await session.scalars(
                select(GateSignOffRow)
                .where(GateSignOffRow.run_id == run_id, GateSignOffRow.gate_id == gate_id)
                .order_by(GateSignOffRow.seq)
            )
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

    async def save_gate(self, record: GateRecord) -> bool:
        """Compare-and-set on ``version``; the sign-offs change only in the transaction that won.

        PostgreSQL makes a concurrent UPDATE (or INSERT) wait for the winner's commit and then
        finds the version moved on; SQLite serialises writers (BEGIN IMMEDIATE).
        """
        values = {
            "health": [_health_json(result) for result in record.health],
            "decision": record.decision,
            "decided_by": record.decided_by,
            "decided_by_name": record.decided_by_name,
            "decided_at": record.decided_at,
            "reason": record.reason,
        }
        async with self._transaction() as session:
            if record.version == 0:
                dialect_insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
                inserted = await session.execute(
                    dialect_insert(GateRow)
                    .values(run_id=record.run_id, gate_id=record.gate_id, version=1, **values)
                    .on_conflict_do_nothing(index_elements=["run_id", "gate_id"])
                    .returning(GateRow.version)
                )
                won = inserted.first()
            else:
                updated = await session.execute(
                    update(GateRow)
                    .where(
                        GateRow.run_id == record.run_id,
                        GateRow.gate_id == record.gate_id,
                        GateRow.version == record.version,
                    )
                    .values(version=GateRow.version + 1, **values)
                    .returning(GateRow.version)
                )
                won = updated.first()
            if won is None:
                return False
            await self._replace_signoffs(session, record)
        return True

    async def _replace_signoffs(self, session: AsyncSession, record: GateRecord) -> None:
        """Delete the sign-offs the record no longer has and add its new ones; the rest stay as stored."""
        of_gate = (GateSignOffRow.run_id == record.run_id) & (GateSignOffRow.gate_id == record.gate_id)
        stored = {(row.role, row.user_id): row for row in await session.scalars(select(GateSignOffRow).where(of_gate))}
        wanted = {(s.role, s.user_id): s for s in record.signoffs}
        gone = [row.seq for key, row in stored.items() if key not in wanted]
        if gone:
            await session.execute(delete(GateSignOffRow).where(GateSignOffRow.seq.in_(gone)))
        session.add_all(
            GateSignOffRow(
                run_id=record.run_id,
                gate_id=record.gate_id,
                role=s.role,
                user_id=s.user_id,
                name=s.name,
                at=s.at,
            )
            for key, s in wanted.items()
            if key not in stored
        )
