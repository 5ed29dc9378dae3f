"""sql.execute as a capped data change (UPDATE / INSERT / DELETE): run in one transaction of at most
``max_rows`` rows, in place when its ``verify_sql`` says so, undone by its ``revert_sql`` the same way.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.actions.base import ActionDeps, Binding
from bot.actions.sql_query import database_engine, database_refused, database_target, first_line
from bot.cloud.sql_target import SqlTargetError, for_dialect, read_only_query
from bot.engine.ports import JSON, ActionFailed, Change, Outcome, ProgressCallback, Target
from bot.runbook.models import SqlExecute


class RowCapExceeded(Exception):
    """The statement changed more rows than ``max_rows``; its transaction is rolled back."""

    def __init__(self, rows: int) -> None:
        super().__init__(rows)
        self.rows = rows


class NotInPlace(Exception):
    """The statement ran but ``verify_sql`` does not agree; its transaction is rolled back."""


def in_place_value(columns: tuple[str, ...], rows: tuple[tuple[Any, ...], ...]) -> bool:
    """verify_sql's one value as a yes/no: true, a non-zero number, or 't' / 'true' / 'yes'."""
    if not rows or not columns:
        raise ValueError("verify_sql returned no value")
    value = rows[0][0]
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("t", "true", "yes", "1", "f", "false", "no", "0"):
        return value.strip().lower() in ("t", "true", "yes", "1")
    raise ValueError(f"verify_sql returned {value!r}, not true/false or a number")


async def change_rows(conn: AsyncConnection, sql: str, verify_sql: str, max_rows: int, wanted: bool) -> int:
    """Run one data change in the caller's transaction: over ``max_rows`` or not ``wanted`` raises."""
    result = await conn.exec_driver_sql(sql.strip().rstrip(";"))
    rows = result.rowcount
    if rows < 0 or rows > max_rows:
        raise RowCapExceeded(rows)
    check = await conn.exec_driver_sql(for_dialect(verify_sql, conn.dialect.name))
    columns = tuple(check.keys()) if check.returns_rows else ()
    values = tuple(tuple(r) for r in check.fetchmany(1)) if check.returns_rows else ()
    if in_place_value(columns, values) != wanted:
        raise NotInPlace
    return rows


class SqlDataChangeAction:
    """An UPDATE / INSERT / DELETE in one transaction, at most ``max_rows`` rows; ``verify_sql`` says
    whether it is in place (snapshot, idempotence, verify), and ``revert_sql`` takes it out again."""

    mutating = True

    def __init__(self, spec: SqlExecute, binding: Binding, deps: ActionDeps) -> None:
        if spec.verify_sql is None or spec.max_rows is None:
            raise ActionFailed("a data change needs verify_sql and max_rows; nothing was run")
        self.spec = spec
        self.verify_sql: str = spec.verify_sql
        self.max_rows: int = spec.max_rows
        self.environment = binding.environment
        self.deps = deps
        self.target = database_target(binding.environment)

    def describe(self) -> str:
        return (
            f"Change data on {self.environment.database or '(no database)'} ({self.environment.name}) in one "
            f"transaction, at most {self.max_rows} rows: {first_line(self.spec.sql, 160)}; "
            f"undo: {first_line(self.spec.revert_sql, 160)}; in place when: {first_line(self.verify_sql)}"
        )

    def targets(self) -> list[Target]:
        return [self.target]

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        in_place = snapshot.get("in_place") if isinstance(snapshot, dict) else None
        if in_place is True:
            return []
        before = "unknown" if in_place is None else "not in place"
        return [
            Change(
                target=target.label, field=f"data: {first_line(self.verify_sql, 60)}", before=before, after="in place"
            )
        ]

    async def snapshot(self, target: Target) -> JSON:
        database, engine = database_engine(self.environment, self.deps)
        return {"database": database, "in_place": await self._in_place(database, engine)}

    async def read_back(self, target: Target) -> JSON:
        return await self.snapshot(target)

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        database, engine = database_engine(self.environment, self.deps)
        if await self._in_place(database, engine):
            message = f"the data change is already in place on {database}; nothing changed"
            return Outcome(ok=True, changed=False, message=message, data={"in_place": True, "rows": 0})
        await progress(f"{database}: {first_line(self.spec.sql)}")
        rows = await self._change(database, engine, self.spec.sql, True, "the statement")
        message = f"changed {rows} rows on {database} (cap {self.max_rows}); the change is in place"
        return Outcome(ok=True, changed=True, message=message, data={"in_place": True, "rows": rows})

    async def verify(self, target: Target) -> Outcome:
        database, engine = database_engine(self.environment, self.deps)
        in_place = await self._in_place(database, engine)
        message = f"the data change is {'in place' if in_place else 'not in place'} on {database}"
        return Outcome(ok=in_place, changed=False, message=message, data={"in_place": in_place})

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        database, engine = database_engine(self.environment, self.deps)
        before = snapshot.get("in_place") if isinstance(snapshot, dict) else None
        if not isinstance(before, bool):
            raise ActionFailed(
                f"cannot revert the data change on {database}: the snapshot taken before the change is "
                "missing, so nothing was reverted; compare the data by hand."
            )
        if before:
            message = f"the data change was already in place on {database} before the step; nothing to revert"
            return Outcome(ok=True, changed=False, message=message, data={"in_place": True})
        if not await self._in_place(database, engine):
            message = f"the data change is not in place on {database}, as before the step; nothing to revert"
            return Outcome(ok=True, changed=False, message=message, data={"in_place": False})
        await progress(f"{database}: {first_line(self.spec.revert_sql)}")
        rows = await self._change(database, engine, self.spec.revert_sql, False, "the undo")
        message = f"reverted: {rows} rows changed back on {database}; the change is no longer in place"
        return Outcome(ok=True, changed=True, message=message, data={"in_place": False, "rows": rows})

    async def _in_place(self, database: str, engine: AsyncEngine) -> bool:
        try:
            result = await read_only_query(engine, self.verify_sql, row_cap=1)
            return in_place_value(result.columns, result.rows)
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, "verify_sql", "nothing was changed") from None
        except (SqlTargetError, ValueError) as exc:
            raise ActionFailed(
                f"{exc} on {database}; verify_sql must return one value, true when the change is in place, "
                "so nothing was changed."
            ) from None

    async def _change(self, database: str, engine: AsyncEngine, sql: str, wanted: bool, label: str) -> int:
        rolled_back = "it was rolled back, nothing was changed"
        try:
            async with engine.begin() as conn:
                return await change_rows(conn, sql, self.verify_sql, self.max_rows, wanted)
        except RowCapExceeded as exc:
            counted = "an unknown number of" if exc.rows < 0 else f"{exc.rows}"
            raise ActionFailed(
                f"{label} on {database} would change {counted} rows, more than max_rows {self.max_rows}; {rolled_back}."
            ) from None
        except NotInPlace:
            state = "in place" if not wanted else "not in place"
            raise ActionFailed(
                f"{label} ran on {database} but verify_sql still says the change is {state}; {rolled_back}."
            ) from None
        except ValueError as exc:
            raise ActionFailed(f"{exc} inside {label}'s transaction on {database}; {rolled_back}.") from None
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, label, rolled_back) from None
