"""The audit log: append and read, nothing else (no update or delete exists on purpose)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select

from bot.engine.audit_kinds import AuditKind
from bot.engine.records import AuditEntry
from bot.store.base import StoreBase
from bot.store.tables import AuditRow

_AUDIT_TABLE = cast(Table, AuditRow.__table__)
_APPEND = insert(_AUDIT_TABLE)  # built once: building a statement cost more than running it


def audit_values(entry: AuditEntry) -> dict[str, Any]:
    """The columns of an entry's row; its kind is stored by value (the words the log shows)."""
    return {**asdict(entry), "kind": entry.kind.value}


def audit_row(entry: AuditEntry) -> AuditRow:
    return AuditRow(**audit_values(entry))


def append_entry(connection: Connection, entry: AuditEntry) -> None:
    """Append ``entry`` in the transaction of ``connection`` (the change it records, when it records one)."""
    connection.execute(_APPEND, [audit_values(entry)])


def _entry(row: AuditRow) -> AuditEntry:
    kind = AuditKind.read(row.kind)
    # A kind only a newer bot knows reads as OTHER, its stored kind kept as the words to show.
    label = row.label if kind.value == row.kind else (row.label or row.kind)
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        run_id=row.run_id,
        kind=kind,
        step_id=row.step_id,
        environment=row.environment,
        before=row.before,
        after=row.after,
        outcome=row.outcome,
        detail=row.detail,
        label=label,
    )


class AuditStore(StoreBase):
    async def append_audit(self, entry: AuditEntry) -> None:
        async with self._statements() as connection:  # a Core INSERT: no ORM flush for a row never read back
            await connection.execute(_APPEND, [audit_values(entry)])

    async def audit(self, run_id: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Oldest first, in the order appended; with ``limit`` the newest ``limit`` entries."""
        async with self._transaction() as session:
            query = select(AuditRow).order_by(AuditRow.seq.desc())
            if run_id is not None:
                query = query.where(AuditRow.run_id == run_id)
            if limit is not None:
                query = query.limit(limit)
            rows = list(await session.scalars(query))
            return [_entry(row) for row in reversed(rows)]

    async def audit_history(
        self,
        run_id: str,
        *,
        kinds: Collection[AuditKind] = (),
        step_id: str | None = None,
        environment: str | None = None,
        outcome: str | None = None,
    ) -> list[AuditEntry]:
        """The run's entries oldest first, narrowed in SQL by kind, step, environment and outcome."""
        wanted = [AuditRow.run_id == run_id]
        if kinds:
            wanted.append(AuditRow.kind.in_(sorted(kind.value for kind in kinds)))
        for column, value in ((AuditRow.step_id, step_id), (AuditRow.environment, environment)):
            if value is not None:
                wanted.append(column == value)
        if outcome is not None:
            wanted.append(AuditRow.outcome == outcome)
        async with self._transaction() as session:
            rows = await session.scalars(select(AuditRow).where(*wanted).order_by(AuditRow.seq))
            return [_entry(row) for row in rows]
