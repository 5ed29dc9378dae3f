"""The audit log: append and read, nothing else (no update or delete exists on purpose).

Prebuilt Core statements in transactions run at once (StoreBase._read/_write): a week's reports
read the log hundreds of times, and an ORM object per row cost more than the query.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import fields
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, insert, select

from bot.engine.audit_kinds import AuditKind
from bot.engine.records import AuditEntry
from bot.store.base import StoreBase
from bot.store.tables import AuditRow

_AUDIT_TABLE = cast(Table, AuditRow.__table__)
_APPEND = insert(_AUDIT_TABLE)  # built once: building a statement cost more than running it
_C = _AUDIT_TABLE.c
# An entry's columns in the order _entry unpacks them: a log of hundreds of rows is read by
# position (a Row's attribute look-ups were most of a long read's cost).
_ENTRY = (
    _C.id,
    _C.at,
    _C.actor_id,
    _C.actor_name,
    _C.run_id,
    _C.kind,
    _C.step_id,
    _C.environment,
    _C.before,
    _C.after,
    _C.outcome,
    _C.detail,
    _C.label,
)
_NEWEST_FIRST = select(*_ENTRY).order_by(_C.seq.desc())
_NEWEST_OF_RUN = _NEWEST_FIRST.where(_C.run_id == bindparam("run_id"))
_NEWEST_LIMITED = _NEWEST_FIRST.limit(bindparam("limit"))  # /ion audit N
_NEWEST_OF_RUN_LIMITED = _NEWEST_OF_RUN.limit(bindparam("limit"))
_OF_RUN = select(*_ENTRY).where(_C.run_id == bindparam("run_id")).order_by(_C.seq)
_KINDS = {kind.value: kind for kind in AuditKind}
_FIELDS = tuple(field.name for field in fields(AuditEntry))


def audit_values(entry: AuditEntry) -> dict[str, Any]:
    """The columns of an entry's row; its kind is stored by value (the words the log shows). Its
    fields are read one by one: every one is a scalar, and ``asdict``'s deep copy of each cost
    about 3% of a refused command's CPU (issue 14)."""
    values = {name: getattr(entry, name) for name in _FIELDS}
    values["kind"] = entry.kind.value
    return values


def append_entry(connection: Connection, entry: AuditEntry) -> None:
    """Append ``entry`` in the transaction of ``connection`` (the change it records, when it records one)."""
    connection.execute(_APPEND, [audit_values(entry)])


def _entry(row: Sequence[Any]) -> AuditEntry:
    id_, at, actor_id, actor_name, run_id, stored, step_id, environment, before, after, outcome, detail, label = row
    kind = _KINDS.get(stored) or AuditKind.read(stored)
    # A kind only a newer bot knows reads as OTHER, its stored kind kept as the words to show.
    return AuditEntry(
        id=id_,
        at=at,
        actor_id=actor_id,
        actor_name=actor_name,
        run_id=run_id,
        kind=kind,
        step_id=step_id,
        environment=environment,
        before=before,
        after=after,
        outcome=outcome,
        detail=detail,
        label=label if kind.value == stored else (label or stored),
    )


def _entries(connection: Connection, statement: Any, values: dict[str, Any]) -> list[AuditEntry]:
    return [_entry(row) for row in connection.execute(statement, values)]


class AuditStore(StoreBase):
    async def append_audit(self, entry: AuditEntry) -> None:
        await self._write(append_entry, entry)

    async def audit(self, run_id: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Oldest first, in the order appended; with ``limit`` the newest ``limit`` entries."""
        if limit is None:
            query = _NEWEST_FIRST if run_id is None else _NEWEST_OF_RUN
        else:
            query = _NEWEST_LIMITED if run_id is None else _NEWEST_OF_RUN_LIMITED
        newest_first = await self._read(_entries, query, {"run_id": run_id, "limit": limit})
        return newest_first[::-1]

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
        if not kinds and step_id is None and environment is None and outcome is None:
            return await self._read(_entries, _OF_RUN, {"run_id": run_id})
        wanted = [_C.run_id == run_id]
        if kinds:
            wanted.append(_C.kind.in_(sorted(kind.value for kind in kinds)))
        for column, value in ((_C.step_id, step_id), (_C.environment, environment)):
            if value is not None:
                wanted.append(column == value)
        if outcome is not None:
            wanted.append(_C.outcome == outcome)
        return await self._read(_entries, select(*_ENTRY).where(*wanted).order_by(_C.seq), {})
