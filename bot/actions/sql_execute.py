"""sql.execute: a schema change with its declared undo (day 1.2's CREATE INDEX / DROP INDEX).

The statement names the object it creates or drops, and the snapshot records whether that object
existed: apply is a no-op when it is already there, and revert returns it to exactly that state
(drops only an index this step created). Statements whose effect cannot be read back are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.actions.base import ActionDeps, Binding
from bot.actions.sql_query import database_engine, database_refused, database_target, first_line
from bot.cloud.sql_target import SqlTargetError, read_only_query
from bot.engine.ports import JSON, ActionFailed, Change, Outcome, ProgressCallback, Target
from bot.runbook.models import SqlExecute

_NAME = r'(?P<name>[\w."]+)'
_FORMS: tuple[tuple[str, Literal["index", "table"], bool], ...] = (
    (
        rf"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+ON\b",
        "index",
        True,
    ),
    (rf"DROP\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?{_NAME}", "index", False),
    (rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}", "table", True),
)


@dataclass(frozen=True)
class SchemaEffect:
    """What a statement does to the schema: ``kind`` ``name`` ends up present (or absent)."""

    kind: Literal["index", "table"]
    name: str
    present_after: bool

    def state(self, exists: bool) -> str:
        return "present" if exists else "absent"


def schema_effect(sql: str) -> SchemaEffect | None:
    """The effect of one CREATE INDEX / DROP INDEX / CREATE TABLE statement; None for anything else."""
    statement = sql.strip().rstrip(";").strip()
    if ";" in statement:
        return None
    for pattern, kind, present_after in _FORMS:
        match = re.match(pattern, statement, re.IGNORECASE)
        if match:
            return SchemaEffect(kind, _unquote(match.group("name")), present_after)
    return None


def _unquote(name: str) -> str:
    last = name.split(".")[-1]
    return last[1:-1] if last.startswith('"') and last.endswith('"') else last.lower()


async def object_exists(engine: AsyncEngine, effect: SchemaEffect) -> bool:
    """Whether the index or table exists, as the database sees it (search_path on PostgreSQL)."""
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            query = text("SELECT count(*) FROM sqlite_master WHERE type = :kind AND lower(name) = :name")
            found = await conn.scalar(query, {"kind": effect.kind, "name": effect.name.lower()})
        elif conn.dialect.name == "postgresql":
            found = await conn.scalar(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": f'"{effect.name}"'})
        else:
            raise SqlTargetError(f"sql.execute supports SQLite and PostgreSQL, not {conn.dialect.name}")
        return bool(found)


async def run_statement(engine: AsyncEngine, sql: str) -> None:
    """Run one DDL statement and commit; CONCURRENTLY cannot run in a transaction on PostgreSQL."""
    concurrently = re.search(r"\bCONCURRENTLY\b", sql, re.IGNORECASE) is not None
    async with engine.connect() as conn:
        if concurrently and conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(sql.strip().rstrip(";"))
        await conn.commit()


class SqlExecuteAction:
    """Runs ``sql`` when its object is not yet in place; ``revert_sql`` restores the snapshot state."""

    mutating = True

    def __init__(self, spec: SqlExecute, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        self.environment = binding.environment
        self.deps = deps
        self.target = database_target(binding.environment)
        self.effect = schema_effect(spec.sql)

    # -- plan -------------------------------------------------------------------------------

    def describe(self) -> str:
        line = (
            f"Run on {self.environment.database or '(no database)'} ({self.environment.name}): "
            f"{first_line(self.spec.sql)}; undo: {first_line(self.spec.revert_sql)}"
        )
        if self.spec.verify_sql:
            expect = f" expecting {self.spec.verify_expect!r}" if self.spec.verify_expect else ""
            line += f"; verify: {first_line(self.spec.verify_sql)}{expect}"
        if self.effect is None:
            line += f" (will be refused: {self._unsupported()})"
        return line

    def targets(self) -> list[Target]:
        return [self.target]

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        effect = self._require_effect()
        if _exists_in(snapshot) == effect.present_after:
            return []
        return [
            Change(
                target=target.label,
                field=f"{effect.kind} {effect.name}",
                before=effect.state(not effect.present_after),
                after=effect.state(effect.present_after),
            )
        ]

    # -- execution --------------------------------------------------------------------------

    async def snapshot(self, target: Target) -> JSON:
        effect = self._require_effect()
        database, engine = database_engine(self.environment, self.deps)
        exists = await self._exists(database, engine, effect, "reading the schema")
        return {"database": database, "object": effect.kind, "name": effect.name, "exists": exists}

    async def read_back(self, target: Target) -> JSON:
        return await self.snapshot(target)

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        effect = self._require_effect()
        database, engine = database_engine(self.environment, self.deps)
        what = f"{effect.kind} {effect.name}"
        if await self._exists(database, engine, effect, "reading the schema") == effect.present_after:
            message = f"{what} already {effect.state(effect.present_after)} on {database}; nothing changed"
            return Outcome(ok=True, changed=False, message=message, data={"exists": effect.present_after})
        await progress(f"{database}: {first_line(self.spec.sql)}")
        try:
            await run_statement(engine, self.spec.sql)
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, f"the statement for {what}", "nothing was changed") from None
        exists = await self._exists(
            database, engine, effect, "checking the result", "the statement ran; check the schema by hand"
        )
        if exists != effect.present_after:
            message = (
                f"ran the statement on {database} but {what} is still {effect.state(exists)}; "
                "check the statement names the same object"
            )
            return Outcome(ok=False, changed=False, message=message, data={"exists": exists})
        done = "created" if effect.present_after else "dropped"
        return Outcome(ok=True, changed=True, message=f"{done} {what} on {database}", data={"exists": exists})

    async def verify(self, target: Target) -> Outcome:
        effect = self._require_effect()
        database, engine = database_engine(self.environment, self.deps)
        if not self.spec.verify_sql:
            exists = await self._exists(database, engine, effect, "reading the schema")
            ok = exists == effect.present_after
            message = f"{effect.kind} {effect.name} is {effect.state(exists)} on {database}"
            return Outcome(ok=ok, changed=False, message=message, data={"exists": exists})
        try:
            result = await read_only_query(engine, self.spec.verify_sql, row_cap=200)
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, "the verification query", "the change stays") from None
        expect = self.spec.verify_expect
        data = {"rows": len(result.rows), "expect": expect}
        if not result.rows:
            return Outcome(ok=False, changed=False, message="verification returned no rows", data=data)
        if expect is not None and expect.lower() not in result.text().lower():
            message = f"verification on {database}: {expect!r} is not in the result\n{result.table()}"
            return Outcome(ok=False, changed=False, message=message, data=data)
        found = f"{expect!r} found" if expect else f"{len(result.rows)} rows"
        return Outcome(ok=True, changed=False, message=f"verified on {database}: {found}\n{result.table()}", data=data)

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        effect = self._require_effect()
        database, engine = database_engine(self.environment, self.deps)
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get("exists"), bool):
            raise ActionFailed(
                f"cannot revert {effect.kind} {effect.name} on {database}: the snapshot taken before the "
                "change is missing, so nothing was reverted; compare the schema by hand."
            )
        before: bool = snapshot["exists"]
        what = f"{effect.kind} {effect.name}"
        if await self._exists(database, engine, effect, "reading the schema") == before:
            message = f"{what} is already {effect.state(before)} as before the step; nothing to revert"
            return Outcome(ok=True, changed=False, message=message, data={"exists": before})
        await progress(f"{database}: {first_line(self.spec.revert_sql)}")
        try:
            await run_statement(engine, self.spec.revert_sql)
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, f"the undo for {what}", f"{what} was left as is") from None
        exists = await self._exists(
            database, engine, effect, "checking the revert", "the undo ran; check the schema by hand"
        )
        if exists != before:
            message = f"ran the undo on {database} but {what} is {effect.state(exists)}, not {effect.state(before)}"
            return Outcome(ok=False, changed=True, message=message, data={"exists": exists})
        return Outcome(
            ok=True,
            changed=True,
            message=f"reverted: {what} is {effect.state(before)} again on {database}",
            data={"exists": exists},
        )

    # -- helpers ----------------------------------------------------------------------------

    def _unsupported(self) -> str:
        return (
            "sql.execute can only track CREATE INDEX, DROP INDEX and CREATE TABLE (one statement), "
            "so it can tell whether the change is in place and undo it exactly; nothing was run"
        )

    def _require_effect(self) -> SchemaEffect:
        if self.effect is None:
            raise ActionFailed(f"{self._unsupported()}. Use sql.query for reads, or split the statement.")
        return self.effect

    async def _exists(
        self,
        database: str,
        engine: AsyncEngine,
        effect: SchemaEffect,
        doing: str,
        consequence: str = "nothing was changed",
    ) -> bool:
        try:
            return await object_exists(engine, effect)
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, doing, consequence) from None
        except SqlTargetError as exc:
            raise ActionFailed(f"{exc}; {consequence}.") from None


def _exists_in(snapshot: Any) -> bool | None:
    return snapshot.get("exists") if isinstance(snapshot, dict) else None


def build(spec: SqlExecute, binding: Binding, deps: ActionDeps) -> SqlExecuteAction:
    return SqlExecuteAction(spec, binding, deps)
