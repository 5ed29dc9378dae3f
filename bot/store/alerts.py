"""Alerts (AlertStore) and incidents people declare."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select

from bot.engine.ports import AlertRecord
from bot.engine.records import Incident
from bot.store.base import StoreBase
from bot.store.tables import AlertRow, IncidentRow


def _alert(row: AlertRow) -> AlertRecord:
    return AlertRecord(
        id=row.id,
        run_id=row.run_id,
        trigger_id=row.trigger_id,
        kind=row.kind,
        state=row.state,
        opened_at=row.opened_at,
        message=row.message,
        value=row.value,
        threshold=row.threshold,
        step_id=row.step_id,
        environment=row.environment,
        acknowledged_by=row.acknowledged_by,
        resolved_at=row.resolved_at,
        clear_since=row.clear_since,
        auto_rollback_at=row.auto_rollback_at,
        no_data_polls=row.no_data_polls,
        data=dict(row.data),
    )


class AlertsStore(StoreBase):
    async def active_alerts(self, run_id: str) -> list[AlertRecord]:
        async with self._transaction() as session:
            query = (
                select(AlertRow)
                .where(AlertRow.run_id == run_id, AlertRow.state != "resolved")
                .order_by(AlertRow.opened_at, AlertRow.id)
            )
            return [_alert(row) for row in await session.scalars(query)]

    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        async with self._transaction() as session:
            row = await session.get(AlertRow, alert_id)
            return _alert(row) if row else None

    async def save_alert(self, alert: AlertRecord) -> None:
        async with self._transaction() as session:
            await self._upsert(session, AlertRow, asdict(alert), keys=["id"])

    async def add_incident(self, incident: Incident) -> None:
        async with self._transaction() as session:
            session.add(IncidentRow(**asdict(incident)))

    async def incidents(self, run_id: str) -> list[Incident]:
        async with self._transaction() as session:
            query = select(IncidentRow).where(IncidentRow.run_id == run_id).order_by(IncidentRow.at, IncidentRow.id)
            return [
                Incident(
                    id=row.id,
                    run_id=row.run_id,
                    opened_by=row.opened_by,
                    opened_by_name=row.opened_by_name,
                    at=row.at,
                    text=row.text,
                    step_id=row.step_id,
                    resolved_at=row.resolved_at,
                )
                for row in await session.scalars(query)
            ]
