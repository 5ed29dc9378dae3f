"""The audit log: append and read, nothing else (no update or delete exists on purpose)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select

from bot.engine.records import AuditEntry
from bot.store.base import StoreBase
from bot.store.tables import AuditRow


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        run_id=row.run_id,
        step_id=row.step_id,
        what=row.what,
        before=row.before,
        after=row.after,
        outcome=row.outcome,
        detail=row.detail,
    )


class AuditStore(StoreBase):
    async def append_audit(self, entry: AuditEntry) -> None:
        async with self._transaction() as session:
            session.add(AuditRow(**asdict(entry)))

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
