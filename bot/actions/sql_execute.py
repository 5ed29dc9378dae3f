"""sql.execute: a schema change with its declared undo (day 1.2's CREATE INDEX / DROP INDEX), or a
capped data change (UPDATE / INSERT / DELETE) whose ``verify_sql`` says whether it is in place.

The statement names the object it creates or drops, and the snapshot records whether that object
existed: apply is a no-op when it is already there, and revert returns it to exactly that state
(drops only an index this step created). Statements whose effect cannot be read back are refused.

``concurrently`` builds and drops the index with CONCURRENTLY on PostgreSQL, outside a transaction,
so writes to the table continue (on MySQL it builds with ALGORITHM=INPLACE LOCK=NONE). A failed
concurrent build leaves an INVALID index behind: it is not "in place", it is dropped before a
(re)build, and a build that fails here cleans up its own.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.actions.base import ActionDeps, Binding
from bot.actions.sql_data_change import SqlDataChangeAction
from bot.actions.sql_query import database_engine, database_refused, database_target, first_line
from bot.cloud.sql_schema import (
    ObjectState,
    SchemaEffect,
    build_in_progress,
    drop_leftover,
    is_data_change,
    object_exists,
    object_state,
    run_statement,
    schema_effect,
)
from bot.cloud.sql_target import SqlTargetError, engine_of, index_statement, read_only_query
from bot.engine.ports import JSON, ActionFailed, Change, Outcome, ProgressCallback, Target
from bot.runbook.models import SqlExecute

# The schema helpers live in bot/cloud/sql_schema.py; these names stay importable from here too.
__all__ = [
    "SchemaEffect",
    "SqlDataChangeAction",
    "SqlExecuteAction",
    "build",
    "build_in_progress",
    "is_data_change",
    "object_exists",
    "object_state",
    "schema_effect",
]

_STATE_WORDS: dict[ObjectState, str] = {
    "present": "present",
    "absent": "absent",
    "invalid": "INVALID (left by a failed concurrent build)",
}


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
        how, dialect = self._how_sent()
        sql = index_statement(self.spec.sql, dialect, self.spec.concurrently)
        undo = index_statement(self.spec.revert_sql, dialect, self.spec.concurrently)
        line = (
            f"Run on {self.environment.database or '(no database)'} ({self.environment.name}){how}: "
            f"{first_line(sql, 160)}; undo: {first_line(undo, 160)}"
        )
        if self.spec.verify_sql:
            expect = f" expecting {self.spec.verify_expect!r}" if self.spec.verify_expect else ""
            line += f"; verify: {first_line(self.spec.verify_sql)}{expect}"
        if self.effect is None:
            line += f" (will be refused: {self._unsupported()})"
        return line

    def _how_sent(self) -> tuple[str, str]:
        """How a concurrent build reaches this database, and its dialect ('' when not known)."""
        if not self.spec.concurrently:
            return "", ""
        dialect = self._dialect()
        if dialect == "postgresql":
            return (
                ", concurrently outside a transaction (writes continue; an INVALID leftover is dropped first)",
                dialect,
            )
        if dialect == "sqlite":
            return ", plain form (SQLite has no concurrent build)", dialect
        if engine_of(dialect) == "mysql":
            return ", online (ALGORITHM=INPLACE LOCK=NONE: refused rather than blocking writes)", dialect
        return ", with CONCURRENTLY outside a transaction on PostgreSQL (plain on SQLite)", dialect

    def _dialect(self) -> str:
        if self.environment.database is None:
            return ""
        try:
            return self.deps.sql.engine(self.environment.database).dialect.name
        except (SqlTargetError, SQLAlchemyError, ImportError):
            return ""

    def targets(self) -> list[Target]:
        return [self.target]

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        effect = self._require_effect()
        state = _state_in(snapshot)
        if state == effect.wanted:
            return []
        before = _STATE_WORDS[state] if state is not None else "unknown"
        if state == "invalid" and effect.present_after:
            before += "; dropped before the build"
        return [Change(target=target.label, field=f"{effect.kind} {effect.name}", before=before, after=effect.wanted)]

    # -- execution --------------------------------------------------------------------------

    async def snapshot(self, target: Target) -> JSON:
        effect = self._require_effect()
        database, engine = database_engine(self.environment, self.deps)
        state = await self._state(database, engine, effect, "reading the schema")
        return {
            "database": database,
            "object": effect.kind,
            "name": effect.name,
            "exists": state != "absent",
            "valid": state == "present",
        }

    async def read_back(self, target: Target) -> JSON:
        return await self.snapshot(target)

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        effect = self._require_effect()
        database, engine = database_engine(self.environment, self.deps)
        what = f"{effect.kind} {effect.name}"
        if await self._state(database, engine, effect, "reading the schema") == effect.wanted:
            message = f"{what} already {effect.wanted} on {database}; nothing changed"
            return Outcome(ok=True, changed=False, message=message, data={"exists": effect.present_after})
        cleaned = await self._run(database, engine, effect, self.spec.sql, effect.present_after, progress, "statement")
        state = await self._state(
            database, engine, effect, "checking the result", "the statement ran; check the schema by hand"
        )
        if state != effect.wanted:
            message = (
                f"ran the statement on {database} but {what} is still {_STATE_WORDS[state]}; "
                "check the statement names the same object"
            )
            return Outcome(ok=False, changed=cleaned, message=message, data={"exists": state != "absent"})
        done = "created" if effect.present_after else "dropped"
        note = " (after dropping the INVALID leftover of a failed concurrent build)" if cleaned else ""
        return Outcome(
            ok=True, changed=True, message=f"{done} {what} on {database}{note}", data={"exists": state != "absent"}
        )

    async def verify(self, target: Target) -> Outcome:
        effect = self._require_effect()
        database, engine = database_engine(self.environment, self.deps)
        state = await self._state(database, engine, effect, "reading the schema")
        message = f"{effect.kind} {effect.name} is {_STATE_WORDS[state]} on {database}"
        if state != effect.wanted or not self.spec.verify_sql:
            if state == "invalid":
                message += "; drop it with DROP INDEX CONCURRENTLY and run the step again"
            return Outcome(
                ok=state == effect.wanted, changed=False, message=message, data={"exists": state != "absent"}
            )
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
        before = _state_in(snapshot)
        if before is None:
            raise ActionFailed(
                f"cannot revert {effect.kind} {effect.name} on {database}: the snapshot taken before the "
                "change is missing, so nothing was reverted; compare the schema by hand."
            )
        # An INVALID index before the step is not restored: the undo leaves no index at all.
        wanted: ObjectState = "present" if before == "present" else "absent"
        what = f"{effect.kind} {effect.name}"
        if await self._state(database, engine, effect, "reading the schema") == wanted:
            message = f"{what} is already {wanted} as before the step; nothing to revert"
            return Outcome(ok=True, changed=False, message=message, data={"exists": wanted == "present"})
        await self._run(database, engine, effect, self.spec.revert_sql, wanted == "present", progress, "undo")
        state = await self._state(
            database, engine, effect, "checking the revert", "the undo ran; check the schema by hand"
        )
        if state != wanted:
            message = f"ran the undo on {database} but {what} is {_STATE_WORDS[state]}, not {wanted}"
            return Outcome(ok=False, changed=True, message=message, data={"exists": state != "absent"})
        return Outcome(
            ok=True,
            changed=True,
            message=f"reverted: {what} is {wanted} again on {database}",
            data={"exists": state != "absent"},
        )

    # -- helpers ----------------------------------------------------------------------------

    async def _run(
        self,
        database: str,
        engine: AsyncEngine,
        effect: SchemaEffect,
        sql: str,
        creates: bool,
        progress: ProgressCallback,
        which: Literal["statement", "undo"],
    ) -> bool:
        """Run ``sql``; a create first drops an INVALID leftover. True when a leftover was dropped."""
        what = f"{effect.kind} {effect.name}"
        concurrently = self.spec.concurrently
        cleaned = False
        if creates and await self._state(database, engine, effect, "reading the schema") == "invalid":
            if await self._in_progress(database, engine, effect):
                raise ActionFailed(
                    f"{what} on {database} is being built by another session right now (it is INVALID until "
                    "that finishes), so nothing was changed; wait for it and run the step again."
                )
            await progress(f"{database}: {what} is INVALID (a failed concurrent build); dropping it first")
            try:
                await run_statement(engine, drop_leftover(effect.name), concurrently=True)
            except SQLAlchemyError as exc:
                raise database_refused(
                    database, exc, f"dropping the INVALID leftover {what}", "nothing was changed"
                ) from None
            cleaned = True
        await progress(f"{database}: {first_line(index_statement(sql, engine.dialect.name, concurrently))}")
        try:
            await run_statement(engine, sql, concurrently=concurrently)
        except SQLAlchemyError as exc:
            kept = "nothing was changed" if which == "statement" else f"{what} was left as is"
            if cleaned:
                kept = f"the INVALID leftover {what} was dropped, nothing else changed"
            if creates and concurrently:
                kept = await self._after_failed_build(database, engine, effect, kept)
            label = f"the statement for {what}" if which == "statement" else f"the undo for {what}"
            raise database_refused(database, exc, label, kept) from None
        return cleaned

    async def _after_failed_build(self, database: str, engine: AsyncEngine, effect: SchemaEffect, kept: str) -> str:
        """Drop the INVALID index a failed CREATE INDEX CONCURRENTLY leaves, and say what is left."""
        what = f"{effect.kind} {effect.name}"
        try:
            if await object_state(engine, effect) != "invalid":
                return kept
            if await build_in_progress(engine, effect.name):
                return f"{kept}; another session is building {what} right now, so it was left alone"
            await run_statement(engine, drop_leftover(effect.name), concurrently=True)
        except (SQLAlchemyError, SqlTargetError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return (
                f"the failed build left an INVALID {what} that could not be dropped ({reason}); drop it with "
                f"DROP INDEX CONCURRENTLY {effect.name} before a retry"
            )
        return f"the INVALID {what} the failed build left was dropped, so nothing was changed"

    async def _in_progress(self, database: str, engine: AsyncEngine, effect: SchemaEffect) -> bool:
        try:
            return await build_in_progress(engine, effect.name)
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, "reading index builds in progress", "nothing was changed") from None

    def _unsupported(self) -> str:
        return (
            "sql.execute can only track CREATE INDEX, DROP INDEX and CREATE TABLE (one statement), "
            "or an UPDATE / INSERT / DELETE with verify_sql and max_rows, so it can tell whether the "
            "change is in place and undo it exactly; nothing was run"
        )

    def _require_effect(self) -> SchemaEffect:
        if self.effect is None:
            raise ActionFailed(f"{self._unsupported()}. Use sql.query for reads, or split the statement.")
        return self.effect

    async def _state(
        self,
        database: str,
        engine: AsyncEngine,
        effect: SchemaEffect,
        doing: str,
        consequence: str = "nothing was changed",
    ) -> ObjectState:
        try:
            return await object_state(engine, effect)
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, doing, consequence) from None
        except SqlTargetError as exc:
            raise ActionFailed(f"{exc}; {consequence}.") from None


def _state_in(snapshot: Any) -> ObjectState | None:
    """The state a snapshot recorded; one without ``valid`` (older runs) counts an index as valid."""
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("exists"), bool):
        return None
    if not snapshot["exists"]:
        return "absent"
    return "invalid" if snapshot.get("valid") is False else "present"


# -- data changes ------------------------------------------------------------------------------


def build(spec: SqlExecute, binding: Binding, deps: ActionDeps) -> SqlExecuteAction | SqlDataChangeAction:
    if is_data_change(spec.sql) and spec.verify_sql is not None and spec.max_rows is not None:
        return SqlDataChangeAction(spec, binding, deps)
    return SqlExecuteAction(spec, binding, deps)
