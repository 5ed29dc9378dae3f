"""sql.execute's concurrent index builds (PostgreSQL CONCURRENTLY, the plain form on SQLite, INVALID
leftovers of failed builds) and its capped data changes, on SQLite and on PostgreSQL when
ION_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.actions import sql_execute
from bot.actions.sql_execute import SchemaEffect, SqlDataChangeAction, SqlExecuteAction, object_state
from bot.cloud.sql_target import SqlTargets, index_statement
from bot.engine.ports import ActionFailed, Change
from bot.runbook.models import SqlExecute

from .conftest import Progress, binding, make_deps

INDEX = "idx_persona_tone_pace_intent"
CONCURRENT = SqlExecute(
    kind="sql.execute",
    sql=f"CREATE INDEX IF NOT EXISTS {INDEX} ON personas(tone, pace, intent)",
    revert_sql=f"DROP INDEX IF EXISTS {INDEX}",
    verify_sql="EXPLAIN SELECT * FROM personas WHERE tone='calm' AND pace='flowing' AND intent='seek_advice'",
    verify_expect=INDEX,
    concurrently=True,
)
POSTGRES_ONLY = pytest.mark.parametrize("app_engine", ["postgresql"], indirect=True)


def schema_action(spec: SqlExecute, sql_targets: SqlTargets) -> SqlExecuteAction:
    action = sql_execute.build(spec, binding("staging"), make_deps(sql=sql_targets))
    assert isinstance(action, SqlExecuteAction)
    return action


def data_action(spec: SqlExecute, sql_targets: SqlTargets) -> SqlDataChangeAction:
    action = sql_execute.build(spec, binding("staging"), make_deps(sql=sql_targets))
    assert isinstance(action, SqlDataChangeAction)
    return action


async def state_of(engine: AsyncEngine, name: str = INDEX) -> str:
    return await object_state(engine, SchemaEffect("index", name, True))


async def leave_invalid_index(engine: AsyncEngine, name: str = INDEX) -> None:
    """A unique concurrent build over duplicate values fails and leaves ``name`` INVALID."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(Exception, match="could not create unique index"):
            await conn.exec_driver_sql(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON personas(tone)")
    assert await state_of(engine, name) == "invalid"


class TestConcurrentIndexForm:
    def test_postgresql_gets_concurrently_and_sqlite_the_plain_form(self) -> None:
        create = "CREATE UNIQUE INDEX IF NOT EXISTS i ON t(c);"
        assert index_statement(create, "postgresql", True) == "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS i ON t(c)"
        assert index_statement("DROP INDEX i", "postgresql", True) == "DROP INDEX CONCURRENTLY i"
        assert index_statement("DROP INDEX CONCURRENTLY i", "postgresql", True) == "DROP INDEX CONCURRENTLY i"
        assert index_statement("drop index concurrently i", "sqlite", True) == "drop index i"
        assert index_statement(create, "postgresql", False) == "CREATE UNIQUE INDEX IF NOT EXISTS i ON t(c)"
        assert index_statement("CREATE TABLE t (x int)", "postgresql", True) == "CREATE TABLE t (x int)"

    def test_concurrently_written_in_the_statement_needs_the_option(self) -> None:
        with pytest.raises(ValidationError, match="set concurrently: true"):
            SqlExecute(
                kind="sql.execute",
                sql=f"CREATE INDEX CONCURRENTLY {INDEX} ON personas(tone)",
                revert_sql=f"DROP INDEX {INDEX}",
            )
        spec = CONCURRENT.model_copy(update={"sql": f"CREATE INDEX CONCURRENTLY {INDEX} ON personas(tone)"})
        assert spec.concurrently is True

    def test_concurrently_is_for_index_statements_only(self) -> None:
        with pytest.raises(ValidationError, match="concurrently applies to CREATE INDEX / DROP INDEX"):
            SqlExecute(kind="sql.execute", sql="CREATE TABLE t (x int)", revert_sql="DROP TABLE t", concurrently=True)

    def test_the_plan_says_concurrently_where_the_database_is_not_known_yet(self) -> None:
        action = schema_action(CONCURRENT, SqlTargets())
        assert action.describe().startswith(
            "Run on ion-staging-db (staging), with CONCURRENTLY outside a transaction on PostgreSQL "
            f"(plain on SQLite): CREATE INDEX IF NOT EXISTS {INDEX} ON personas(tone, pace, intent); "
            f"undo: DROP INDEX IF EXISTS {INDEX}; verify: EXPLAIN"
        )


class TestConcurrentIndexBuild:
    async def test_the_plan_shows_what_this_database_is_sent(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine
    ) -> None:
        line = schema_action(CONCURRENT, sql_targets).describe()
        if app_engine.dialect.name == "postgresql":
            assert line.startswith(
                "Run on ion-staging-db (staging), concurrently outside a transaction (writes continue; an INVALID "
                f"leftover is dropped first): CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON personas(tone, "
                f"pace, intent); undo: DROP INDEX CONCURRENTLY IF EXISTS {INDEX}; verify: "
            )
        elif app_engine.dialect.name == "mysql":
            assert line.startswith(
                "Run on ion-staging-db (staging), online (ALGORITHM=INPLACE LOCK=NONE: refused rather than "
                f"blocking writes): CREATE INDEX {INDEX} ON personas(tone, pace, intent) ALGORITHM=INPLACE "
                f"LOCK=NONE; undo: DROP INDEX {INDEX}; verify: "
            )
        else:
            assert line.startswith(
                "Run on ion-staging-db (staging), plain form (SQLite has no concurrent build): "
                f"CREATE INDEX IF NOT EXISTS {INDEX} ON personas(tone, pace, intent); "
                f"undo: DROP INDEX IF EXISTS {INDEX}; verify: "
            )

    async def test_builds_says_already_present_verifies_and_reverts(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        action = schema_action(CONCURRENT, sql_targets)
        [target] = action.targets()
        snapshot = await action.snapshot(target)
        assert (snapshot["exists"], snapshot["valid"]) == (False, False)
        created = await action.apply(target, snapshot, progress)
        assert (created.ok, created.changed, created.message) == (
            True,
            True,
            f"created index {INDEX} on ion-staging-db",
        )
        sent = {"postgresql": "CREATE INDEX CONCURRENTLY", "mysql": f"CREATE INDEX {INDEX} ON personas"}.get(
            app_engine.dialect.name, "CREATE INDEX IF"
        )
        assert progress.lines[-1].startswith(f"ion-staging-db: {sent}")
        assert await state_of(app_engine) == "present"
        verified = await action.verify(target)
        assert verified.ok, verified.message
        again = await action.apply(target, await action.snapshot(target), progress)
        assert (again.ok, again.changed) == (True, False)
        assert action.diff(target, await action.read_back(target)) == []
        reverted = await action.revert(target, snapshot, progress)
        assert (reverted.ok, reverted.changed) == (True, True)
        dropped = {"postgresql": "DROP INDEX CONCURRENTLY", "mysql": f"DROP INDEX {INDEX}"}.get(
            app_engine.dialect.name, "DROP INDEX IF"
        )
        assert progress.lines[-1].startswith(f"ion-staging-db: {dropped}")
        assert await state_of(app_engine) == "absent"
        assert (await action.revert(target, snapshot, progress)).changed is False

    async def test_a_snapshot_from_before_valid_was_recorded_still_reverts(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        action = schema_action(CONCURRENT, sql_targets)
        [target] = action.targets()
        await action.apply(target, await action.snapshot(target), progress)
        assert (await action.revert(target, {"exists": False}, progress)).ok
        assert await state_of(app_engine) == "absent"

    @POSTGRES_ONLY
    async def test_an_invalid_leftover_is_reported_then_dropped_before_the_build(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        await leave_invalid_index(app_engine)
        action = schema_action(CONCURRENT, sql_targets)
        [target] = action.targets()
        snapshot = await action.snapshot(target)
        assert (snapshot["exists"], snapshot["valid"]) == (True, False)
        assert action.diff(target, snapshot) == [
            Change(
                target="ion-staging-db (staging)",
                field=f"index {INDEX}",
                before="INVALID (left by a failed concurrent build); dropped before the build",
                after="present",
            )
        ]
        before = await action.verify(target)
        assert not before.ok
        assert before.message == (
            f"index {INDEX} is INVALID (left by a failed concurrent build) on ion-staging-db; "
            "drop it with DROP INDEX CONCURRENTLY and run the step again"
        )
        created = await action.apply(target, snapshot, progress)
        assert (created.ok, created.changed) == (True, True)
        assert created.message == (
            f"created index {INDEX} on ion-staging-db "
            "(after dropping the INVALID leftover of a failed concurrent build)"
        )
        assert progress.lines[0] == (
            f"ion-staging-db: index {INDEX} is INVALID (a failed concurrent build); dropping it first"
        )
        assert await state_of(app_engine) == "present"
        assert (await action.verify(target)).ok
        reverted = await action.revert(target, snapshot, progress)
        assert reverted.ok and reverted.message == f"reverted: index {INDEX} is absent again on ion-staging-db"
        assert await state_of(app_engine) == "absent"

    @POSTGRES_ONLY
    async def test_an_index_another_session_is_still_building_is_left_alone(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        writer = await app_engine.connect()
        await writer.exec_driver_sql("UPDATE personas SET prompt = prompt WHERE id = 1")  # open, uncommitted
        builder = await app_engine.connect()
        builder = await builder.execution_options(isolation_level="AUTOCOMMIT")
        build = asyncio.create_task(
            builder.exec_driver_sql(f"CREATE INDEX CONCURRENTLY {INDEX} ON personas(tone, pace, intent)")
        )
        try:
            for _ in range(500):  # the build waits for the writer with its index INVALID
                if await sql_execute.build_in_progress(app_engine, INDEX):
                    break
                await asyncio.sleep(0.01)
            action = schema_action(CONCURRENT, sql_targets)
            [target] = action.targets()
            with pytest.raises(ActionFailed, match="is being built by another session right now"):
                await action.apply(target, await action.snapshot(target), progress)
        finally:
            await writer.rollback()
            await writer.close()
            await build
            await builder.close()
        assert await state_of(app_engine) == "present"

    @POSTGRES_ONLY
    async def test_a_failed_build_drops_the_invalid_index_it_left(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        spec = SqlExecute(
            kind="sql.execute",
            sql="CREATE UNIQUE INDEX idx_persona_tone ON personas(tone)",
            revert_sql="DROP INDEX idx_persona_tone",
            concurrently=True,
        )
        action = schema_action(spec, sql_targets)
        [target] = action.targets()
        with pytest.raises(
            ActionFailed,
            match=r"ion-staging-db refused the statement for index idx_persona_tone: could not create unique "
            r"index .*; the INVALID index idx_persona_tone the failed build left was dropped, so nothing was changed",
        ):
            await action.apply(target, await action.snapshot(target), progress)
        assert await state_of(app_engine, "idx_persona_tone") == "absent"

    @POSTGRES_ONLY
    async def test_a_drop_step_removes_an_invalid_index_too(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        await leave_invalid_index(app_engine)
        spec = SqlExecute(
            kind="sql.execute",
            sql=f"DROP INDEX {INDEX}",
            revert_sql=f"CREATE INDEX {INDEX} ON personas(tone, pace, intent)",
            concurrently=True,
        )
        action = schema_action(spec, sql_targets)
        [target] = action.targets()
        snapshot = await action.snapshot(target)
        assert (await action.apply(target, snapshot, progress)).message == f"dropped index {INDEX} on ion-staging-db"
        assert await state_of(app_engine) == "absent"
        reverted = await action.revert(target, snapshot, progress)
        assert reverted.message == f"index {INDEX} is already absent as before the step; nothing to revert"


ADD_PROBE_PERSONA = SqlExecute(
    kind="sql.execute",
    sql="INSERT INTO personas (id, name, tone, pace, intent, prompt) "
    "VALUES (900001, 'probe', 'calm', 'brisk', 'seek_advice', 'p')",
    revert_sql="DELETE FROM personas WHERE id = 900001",
    verify_sql="SELECT count(*) FROM personas WHERE id = 900001",
    max_rows=1,
)


async def persona_count(engine: AsyncEngine, where: str) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text(f"SELECT count(*) FROM personas WHERE {where}")))


class TestDataChange:
    def test_a_data_change_needs_its_check_and_its_cap(self) -> None:
        with pytest.raises(ValidationError, match=r"needs verify_sql .* and max_rows"):
            SqlExecute(kind="sql.execute", sql="UPDATE personas SET pace = 'brisk'", revert_sql="UPDATE personas")
        with pytest.raises(ValidationError, match="revert_sql of an UPDATE / INSERT / DELETE must be one too"):
            ADD_PROBE_PERSONA.model_validate({**ADD_PROBE_PERSONA.model_dump(), "revert_sql": "DROP TABLE personas"})
        with pytest.raises(ValidationError, match="max_rows applies to UPDATE / INSERT / DELETE only"):
            SqlExecute(kind="sql.execute", sql="CREATE TABLE t (x int)", revert_sql="DROP TABLE t", max_rows=5)

    async def test_plan_apply_reapply_verify_and_revert(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        action = data_action(ADD_PROBE_PERSONA, sql_targets)
        assert action.describe() == (
            "Change data on ion-staging-db (staging) in one transaction, at most 1 rows: INSERT INTO personas "
            "(id, name, tone, pace, intent, prompt) VALUES (900001, 'probe', 'calm', 'brisk', 'seek_advice', 'p'); "
            "undo: DELETE FROM personas WHERE id = 900001; "
            "in place when: SELECT count(*) FROM personas WHERE id = 900001"
        )
        [target] = action.targets()
        snapshot = await action.snapshot(target)
        assert snapshot == {"database": "ion-staging-db", "in_place": False}
        assert action.diff(target, snapshot) == [
            Change(
                target="ion-staging-db (staging)",
                field="data: SELECT count(*) FROM personas WHERE id = 900001",
                before="not in place",
                after="in place",
            )
        ]
        applied = await action.apply(target, snapshot, progress)
        assert (applied.ok, applied.changed) == (True, True)
        assert applied.message == "changed 1 rows on ion-staging-db (cap 1); the change is in place"
        assert (await action.verify(target)).ok
        again = await action.apply(target, await action.snapshot(target), progress)
        assert (again.changed, again.message) == (
            False,
            "the data change is already in place on ion-staging-db; nothing changed",
        )
        assert action.diff(target, await action.read_back(target)) == []
        reverted = await action.revert(target, snapshot, progress)
        assert (reverted.ok, reverted.changed) == (True, True)
        assert await persona_count(app_engine, "id = 900001") == 0
        assert (await action.revert(target, snapshot, progress)).changed is False
        assert not (await action.verify(target)).ok

    async def test_more_rows_than_the_cap_is_refused_and_rolled_back(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        spec = SqlExecute(
            kind="sql.execute",
            sql="UPDATE personas SET prompt = 'rewritten' WHERE tone = 'calm'",
            revert_sql="UPDATE personas SET prompt = 'original' WHERE tone = 'calm'",
            verify_sql="SELECT count(*) = 0 FROM personas WHERE tone = 'calm' AND prompt <> 'rewritten'",
            max_rows=10,
        )
        action = data_action(spec, sql_targets)
        [target] = action.targets()
        with pytest.raises(
            ActionFailed,
            match=r"the statement on ion-staging-db would change \d+ rows, more than max_rows 10; "
            "it was rolled back, nothing was changed",
        ):
            await action.apply(target, await action.snapshot(target), progress)
        assert await persona_count(app_engine, "prompt = 'rewritten'") == 0

    async def test_a_change_its_check_does_not_see_is_rolled_back(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        spec = ADD_PROBE_PERSONA.model_copy(update={"verify_sql": "SELECT count(*) FROM personas WHERE id = 900002"})
        action = data_action(spec, sql_targets)
        [target] = action.targets()
        with pytest.raises(ActionFailed, match="verify_sql still says the change is not in place; it was rolled back"):
            await action.apply(target, await action.snapshot(target), progress)
        assert await persona_count(app_engine, "id = 900001") == 0

    async def test_a_check_that_is_not_a_yes_or_no_is_refused(self, sql_targets: SqlTargets) -> None:
        spec = ADD_PROBE_PERSONA.model_copy(update={"verify_sql": "SELECT name FROM personas ORDER BY id LIMIT 1"})
        action = data_action(spec, sql_targets)
        with pytest.raises(ActionFailed, match="not true/false or a number on ion-staging-db; verify_sql must return"):
            await action.snapshot(action.targets()[0])
