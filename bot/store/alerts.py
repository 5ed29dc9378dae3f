"""Alerts (AlertStore) and incidents people declare.

Several replicas may watch one database: ``open_alert`` is an insert the partial unique index
uq_alerts_open_slot lets through once per active (run, trigger, slot), and ``update_alert`` is a
conditional UPDATE on ``version``, so a write based on a stale read changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.engine.ports import AlertRecord
from bot.engine.records import Incident
from bot.engine.triggers import slot_of
from bot.store.base import StoreBase, execute, upsert
from bot.store.rows import columns_of
from bot.store.tables import AlertRow, IncidentRow

_ALERTS_TABLE = cast(Table, AlertRow.__table__)
_ALERT_COLUMNS = columns_of(_ALERTS_TABLE, AlertRecord)
_ACTIVE_ALERTS = (
    select(*_ALERT_COLUMNS)
    .where(_ALERTS_TABLE.c.run_id == bindparam("run_id"), _ALERTS_TABLE.c.state != "resolved")
    .order_by(_ALERTS_TABLE.c.opened_at, _ALERTS_TABLE.c.id)
)
_ALERTS_OF = (
    select(*_ALERT_COLUMNS)
    .where(_ALERTS_TABLE.c.run_id == bindparam("run_id"))
    .order_by(_ALERTS_TABLE.c.opened_at, _ALERTS_TABLE.c.id)
)
_ALERT = select(*_ALERT_COLUMNS).where(_ALERTS_TABLE.c.id == bindparam("alert_id"))
_FIXED = ("id", "run_id", "trigger_id", "kind", "opened_at", "version")  # never changed by update_alert
_UPDATE_ALERT = (
    update(_ALERTS_TABLE)
    .where(_ALERTS_TABLE.c.id == bindparam("b_id"), _ALERTS_TABLE.c.version == bindparam("b_version"))
    .values(
        version=_ALERTS_TABLE.c.version + 1,
        **{c.name: bindparam(f"v_{c.name}") for c in _ALERTS_TABLE.c if c.name not in _FIXED},
    )
    .returning(_ALERTS_TABLE.c.version)
)
_INCIDENTS_TABLE = cast(Table, IncidentRow.__table__)
_NEW_INCIDENT = insert(_INCIDENTS_TABLE)
_INCIDENTS_OF = (
    select(_INCIDENTS_TABLE)
    .where(_INCIDENTS_TABLE.c.run_id == bindparam("run_id"))
    .order_by(_INCIDENTS_TABLE.c.at, _INCIDENTS_TABLE.c.id)
)


def _alert(row: Sequence[Any]) -> AlertRecord:
    alert = AlertRecord(*row)  # the columns of _ALERT_COLUMNS, in AlertRecord's field order
    alert.data = dict(alert.data)
    return alert


def _values(alert: AlertRecord) -> dict[str, Any]:
    return {**asdict(alert), "slot": slot_of(alert.kind)}


def _opened(connection: Connection, values: dict[str, Any]) -> bool:
    # No conflict target: the id and the open-slot index both make the loser do nothing.
    # PostgreSQL waits for a concurrent inserter's commit, SQLite serialises writers.
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(_ALERTS_TABLE).values(**values).on_conflict_do_nothing()
    return connection.execute(statement.returning(_ALERTS_TABLE.c.id)).first() is not None


def _updated(connection: Connection, values: dict[str, Any]) -> int | None:
    """The new version, or None when the alert's version moved on (a write based on a stale read)."""
    won = connection.execute(_UPDATE_ALERT, values).first()
    return int(won[0]) if won is not None else None


def _alerts(connection: Connection, statement: Any, values: dict[str, Any]) -> list[AlertRecord]:
    return [_alert(row) for row in connection.execute(statement, values)]


def _alert_by_id(connection: Connection, alert_id: str) -> AlertRecord | None:
    row = connection.execute(_ALERT, {"alert_id": alert_id}).first()
    return _alert(row) if row else None


def _incident(row: Row[Any]) -> Incident:
    return Incident(
        id=row.id,
        run_id=row.run_id,
        opened_by=row.opened_by,
        opened_by_name=row.opened_by_name,
        at=row.at,
        text=row.text,
        step_id=row.step_id,
        resolved_at=row.resolved_at,
    )


def _incidents(connection: Connection, run_id: str) -> list[Incident]:
    return [_incident(row) for row in connection.execute(_INCIDENTS_OF, {"run_id": run_id})]


class AlertsStore(StoreBase):
    async def active_alerts(self, run_id: str) -> list[AlertRecord]:
        return await self._read(_alerts, _ACTIVE_ALERTS, {"run_id": run_id})  # every status and card reads it

    async def alerts(self, run_id: str) -> list[AlertRecord]:
        """Every alert of the run, resolved ones too, oldest first: a past day's report rebuilds what was open."""
        return await self._read(_alerts, _ALERTS_OF, {"run_id": run_id})

    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        return await self._read(_alert_by_id, alert_id)

    async def save_alert(self, alert: AlertRecord) -> None:
        await self._write(upsert, AlertRow, _values(alert), ["id"])

    async def open_alert(self, alert: AlertRecord) -> AlertRecord | None:
        stored = replace(alert, version=1)
        return stored if await self._write(_opened, _values(stored)) else None

    async def update_alert(self, alert: AlertRecord) -> AlertRecord | None:
        values = {f"v_{name}": value for name, value in _values(alert).items() if name not in _FIXED}
        won = await self._write(_updated, {**values, "b_id": alert.id, "b_version": alert.version})
        return replace(alert, version=won) if won is not None else None

    async def add_incident(self, incident: Incident) -> None:
        await self._write(execute, _NEW_INCIDENT, [asdict(incident)])

    async def incidents(self, run_id: str) -> list[Incident]:
        return await self._read(_incidents, run_id)
