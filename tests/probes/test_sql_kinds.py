"""sql.query, sql.execute and sql.benchmark against a seeded application database (SQLite, and
PostgreSQL when ION_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.actions import sql_benchmark, sql_execute, sql_query
from bot.cloud.sql_target import SqlTargets
from bot.engine.ports import ActionFailed, Change
from bot.runbook.models import SqlBenchmark, SqlExecute, SqlQuery

from .conftest import Progress, binding, make_deps

PERSONA_LOOKUP = "SELECT * FROM personas WHERE tone='calm' AND pace='flowing' AND intent='seek_advice'"
DAY_1_2 = SqlExecute(
    kind="sql.execute",
    sql="CREATE INDEX idx_persona_tone_pace_intent ON personas(tone, pace, intent);",
    revert_sql="DROP INDEX idx_persona_tone_pace_intent",
    verify_sql=f"EXPLAIN {PERSONA_LOOKUP}",
    verify_expect="idx_persona_tone_pace_intent",
)


async def index_exists(engine: AsyncEngine, name: str) -> bool:
    effect = sql_execute.SchemaEffect("index", name, True)
    return await sql_execute.object_exists(engine, effect)


class TestQuery:
    async def test_shows_rows_as_a_table_and_finds_the_expected_text(
        self, sql_targets: SqlTargets, progress: Progress
    ) -> None:
        spec = SqlQuery(
            kind="sql.query",
            sql="SELECT tone, count(*) AS n FROM personas GROUP BY tone ORDER BY tone",
            expect="calm",
        )
        action = sql_query.build(spec, binding("staging"), make_deps(sql=sql_targets))
        assert action.describe() == (
            "Query ion-staging-db (staging) read-only, up to 50 rows: "
            "SELECT tone, count(*) AS n FROM personas GROUP BY tone ORDER BY tone; "
            "expect 'calm' in the result"
        )
        [target] = action.targets()
        outcome = await action.apply(target, None, progress)
        assert outcome.ok and not outcome.changed
        lines = outcome.message.splitlines()
        assert lines[0] == "query on ion-staging-db: 6 rows, 'calm' found"
        assert lines[1].split() == ["tone", "|", "n"] and lines[3].startswith("calm ")
        assert outcome.data["row_count"] == 6 and outcome.data["columns"] == ["tone", "n"]
        assert sum(row[1] for row in outcome.data["rows"]) == 3000
        assert (await action.apply(target, None, progress)).data == outcome.data
        assert (await action.revert(target, None, progress)).changed is False

    async def test_keeps_at_most_the_row_cap_and_says_more_were_there(self, sql_targets: SqlTargets) -> None:
        spec = SqlQuery(kind="sql.query", sql="SELECT id, name FROM personas ORDER BY id", row_cap=5)
        action = sql_query.build(spec, binding("staging"), make_deps(sql=sql_targets))
        outcome = await action.apply(action.targets()[0], None, Progress())
        assert outcome.data["row_count"] == 5 and outcome.data["truncated"] is True
        assert outcome.message.startswith("query on ion-staging-db: 5+ rows")
        assert outcome.message.endswith("(more rows not shown)")

    async def test_a_missing_expected_text_fails_it_and_shows_the_result(self, sql_targets: SqlTargets) -> None:
        spec = SqlQuery(kind="sql.query", sql="SELECT count(*) AS n FROM personas", expect="Using index")
        action = sql_query.build(spec, binding("staging"), make_deps(sql=sql_targets))
        outcome = await action.apply(action.targets()[0], None, Progress())
        assert not outcome.ok
        assert outcome.message.startswith("query on ion-staging-db: 1 rows, and 'Using index' is not in the result")
        assert "3000" in outcome.message

    async def test_a_write_is_refused_by_the_database(self, sql_targets: SqlTargets, app_engine: AsyncEngine) -> None:
        spec = SqlQuery(
            kind="sql.query",
            sql="INSERT INTO sessions (id, session_id, user_id, created_at, last_seen) "
            "VALUES (999999, 's', 'u', '2026-04-21', '2026-04-21')",
        )
        action = sql_query.build(spec, binding("staging"), make_deps(sql=sql_targets))
        with pytest.raises(ActionFailed, match=r"ion-staging-db refused the read-only query: .*; nothing was changed"):
            await action.apply(action.targets()[0], None, Progress())
        count = sql_query.build(
            SqlQuery(kind="sql.query", sql="SELECT count(*) AS n FROM sessions WHERE id = 999999"),
            binding("staging"),
            make_deps(sql=sql_targets),
        )
        assert (await count.apply(count.targets()[0], None, Progress())).data["rows"] == [[0]]

    async def test_the_connection_goes_back_to_the_pool_writable(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine
    ) -> None:
        spec = SqlQuery(kind="sql.query", sql="SELECT 1 AS one")
        action = sql_query.build(spec, binding("staging"), make_deps(sql=sql_targets))
        await action.apply(action.targets()[0], None, Progress())
        async with app_engine.begin() as conn:
            await conn.exec_driver_sql("DELETE FROM slow_query_log WHERE id = 1")

    async def test_an_unconfigured_database_is_a_sentence_naming_the_setting(self) -> None:
        action = sql_query.build(SqlQuery(kind="sql.query", sql="SELECT 1"), binding("staging"), make_deps())
        with pytest.raises(
            ActionFailed, match=r"no SQL target named 'ion-staging-db' is configured .* set ION_SQL_TARGETS"
        ):
            await action.apply(action.targets()[0], None, Progress())


class TestExecute:
    async def test_plan_shows_the_statement_its_undo_and_the_index_appearing(self, sql_targets: SqlTargets) -> None:
        action = sql_execute.build(DAY_1_2, binding("staging"), make_deps(sql=sql_targets))
        assert action.mutating is True
        assert action.describe() == (
            "Run on ion-staging-db (staging): CREATE INDEX idx_persona_tone_pace_intent "
            "ON personas(tone, pace, intent); undo: DROP INDEX idx_persona_tone_pace_intent; "
            "verify: EXPLAIN SELECT * FROM personas "
            "WHERE tone='calm' AND pace='flowing' AND intent=… expecting 'idx_persona_tone_pace_intent'"
        )
        [target] = action.targets()
        snapshot = await action.snapshot(target)
        assert snapshot == {
            "database": "ion-staging-db",
            "object": "index",
            "name": "idx_persona_tone_pace_intent",
            "exists": False,
            "valid": False,
        }
        assert action.diff(target, snapshot) == [
            Change(
                target="ion-staging-db (staging)",
                field="index idx_persona_tone_pace_intent",
                before="absent",
                after="present",
            )
        ]

    async def test_creates_then_says_already_present_then_revert_drops_exactly_that(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        action = sql_execute.build(DAY_1_2, binding("staging"), make_deps(sql=sql_targets))
        [target] = action.targets()
        snapshot = await action.snapshot(target)
        created = await action.apply(target, snapshot, progress)
        assert (created.ok, created.changed) == (True, True)
        assert created.message == "created index idx_persona_tone_pace_intent on ion-staging-db"
        assert await index_exists(app_engine, "idx_persona_tone_pace_intent")
        verified = await action.verify(target)
        assert verified.ok, verified.message
        assert verified.message.startswith("verified on ion-staging-db: 'idx_persona_tone_pace_intent' found")
        again = await action.apply(target, await action.snapshot(target), progress)
        assert (again.ok, again.changed) == (True, False)
        assert again.message == "index idx_persona_tone_pace_intent already present on ion-staging-db; nothing changed"
        assert action.diff(target, await action.read_back(target)) == []
        reverted = await action.revert(target, snapshot, progress)
        assert (reverted.ok, reverted.changed) == (True, True)
        assert reverted.message == "reverted: index idx_persona_tone_pace_intent is absent again on ion-staging-db"
        assert not await index_exists(app_engine, "idx_persona_tone_pace_intent")
        assert (await action.revert(target, snapshot, progress)).changed is False

    async def test_revert_keeps_an_index_that_was_there_before_the_step(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        async with app_engine.begin() as conn:
            await conn.exec_driver_sql("CREATE INDEX idx_persona_tone_pace_intent ON personas(tone, pace, intent)")
        action = sql_execute.build(DAY_1_2, binding("staging"), make_deps(sql=sql_targets))
        [target] = action.targets()
        snapshot = await action.snapshot(target)
        assert (await action.apply(target, snapshot, progress)).changed is False
        outcome = await action.revert(target, snapshot, progress)
        assert outcome.ok and not outcome.changed
        assert (
            outcome.message
            == "index idx_persona_tone_pace_intent is already present as before the step; nothing to revert"
        )
        assert await index_exists(app_engine, "idx_persona_tone_pace_intent")

    async def test_a_drop_index_step_is_reverted_by_recreating_it(
        self, sql_targets: SqlTargets, app_engine: AsyncEngine, progress: Progress
    ) -> None:
        async with app_engine.begin() as conn:
            await conn.exec_driver_sql("CREATE INDEX idx_sessions_sessionid ON sessions(session_id, created_at DESC)")
        spec = SqlExecute(
            kind="sql.execute",
            sql="DROP INDEX idx_sessions_sessionid",
            revert_sql="CREATE INDEX idx_sessions_sessionid ON sessions(session_id, created_at DESC)",
        )
        action = sql_execute.build(spec, binding("staging"), make_deps(sql=sql_targets))
        [target] = action.targets()
        snapshot = await action.snapshot(target)
        assert (
            await action.apply(target, snapshot, progress)
        ).message == "dropped index idx_sessions_sessionid on ion-staging-db"
        assert (await action.verify(target)).ok
        assert (await action.revert(target, snapshot, progress)).ok
        assert await index_exists(app_engine, "idx_sessions_sessionid")

    async def test_verification_fails_when_the_plan_does_not_use_the_index(
        self, sql_targets: SqlTargets, progress: Progress
    ) -> None:
        spec = DAY_1_2.model_copy(update={"verify_sql": "EXPLAIN SELECT * FROM sessions WHERE user_id = 'user-00001'"})
        action = sql_execute.build(spec, binding("staging"), make_deps(sql=sql_targets))
        [target] = action.targets()
        await action.apply(target, await action.snapshot(target), progress)
        outcome = await action.verify(target)
        assert not outcome.ok
        assert outcome.message.startswith(
            "verification on ion-staging-db: 'idx_persona_tone_pace_intent' is not in the result"
        )
        await action.revert(target, {"exists": False}, progress)

    async def test_a_statement_it_cannot_track_is_refused_before_running(self, sql_targets: SqlTargets) -> None:
        spec = SqlExecute(
            kind="sql.execute",
            sql="ALTER TABLE personas ADD COLUMN mood text",
            revert_sql="ALTER TABLE personas DROP COLUMN mood",
        )
        action = sql_execute.build(spec, binding("staging"), make_deps(sql=sql_targets))
        assert (
            "(will be refused: sql.execute can only track CREATE INDEX, DROP INDEX and CREATE TABLE"
            in action.describe()
        )
        with pytest.raises(ActionFailed, match="nothing was run"):
            await action.snapshot(action.targets()[0])

    async def test_a_statement_the_database_rejects_is_a_sentence(
        self, sql_targets: SqlTargets, progress: Progress
    ) -> None:
        spec = DAY_1_2.model_copy(update={"sql": "CREATE INDEX idx_persona_tone_pace_intent ON no_such_table(tone)"})
        action = sql_execute.build(spec, binding("staging"), make_deps(sql=sql_targets))
        [target] = action.targets()
        with pytest.raises(
            ActionFailed,
            match=r"ion-staging-db refused the statement for index idx_persona_tone_pace_intent: "
            r".*no_such_table.*; nothing was changed",
        ):
            await action.apply(target, await action.snapshot(target), progress)

    async def test_revert_without_a_snapshot_refuses_to_guess(
        self, sql_targets: SqlTargets, progress: Progress
    ) -> None:
        action = sql_execute.build(DAY_1_2, binding("staging"), make_deps(sql=sql_targets))
        with pytest.raises(
            ActionFailed, match="the snapshot taken before the change is missing, so nothing was reverted"
        ):
            await action.revert(action.targets()[0], None, progress)


class FixedStepTimer:
    """Each query run measures ``step_ms``: thresholds are judged on known figures."""

    def __init__(self, step_ms: float) -> None:
        self.step = step_ms / 1000
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class TestBenchmark:
    SPEC = SqlBenchmark(
        kind="sql.benchmark",
        queries=[
            PERSONA_LOOKUP,
            "SELECT * FROM user_preferences WHERE user_id = 'user-00042' ORDER BY created_at DESC",
        ],
        repeat=5,
        max_mean_ms=15,
        max_p95_ms=25,
    )

    async def test_passes_under_the_thresholds_with_mean_and_p95(
        self, sql_targets: SqlTargets, progress: Progress
    ) -> None:
        action = sql_benchmark.build(
            self.SPEC, binding("staging"), make_deps(sql=sql_targets), timer=FixedStepTimer(10)
        )
        assert (
            action.describe()
            == "Benchmark 2 queries x 5 on ion-staging-db (staging); pass if mean < 15 ms and P95 < 25 ms"
        )
        outcome = await action.apply(action.targets()[0], None, progress)
        assert outcome.ok and not outcome.changed
        assert (
            outcome.message == "benchmark passed on ion-staging-db: 10 runs, mean 10.00 ms, P95 10.00 ms "
            "(limits: mean < 15 ms and P95 < 25 ms)"
        )
        assert [q["mean_ms"] for q in outcome.data["queries"]] == [10.0, 10.0]
        assert (await action.revert(action.targets()[0], None, progress)).changed is False

    async def test_fails_at_the_threshold_with_the_figures(self, sql_targets: SqlTargets) -> None:
        action = sql_benchmark.build(
            self.SPEC, binding("staging"), make_deps(sql=sql_targets), timer=FixedStepTimer(15)
        )
        outcome = await action.apply(action.targets()[0], None, Progress())
        assert not outcome.ok
        assert outcome.message.startswith(
            "benchmark failed on ion-staging-db: mean 15.00 ms is not below 15 ms (10 runs"
        )

    async def test_p95_alone_can_fail_it(self, sql_targets: SqlTargets) -> None:
        spec = self.SPEC.model_copy(update={"max_mean_ms": None, "max_p95_ms": 5})
        action = sql_benchmark.build(spec, binding("staging"), make_deps(sql=sql_targets), timer=FixedStepTimer(6))
        outcome = await action.apply(action.targets()[0], None, Progress())
        assert not outcome.ok and outcome.data["p95_ms"] == pytest.approx(6.0)
        assert "P95 6.00 ms is not below 5 ms" in outcome.message

    async def test_a_benchmark_cannot_write(self, sql_targets: SqlTargets) -> None:
        spec = self.SPEC.model_copy(update={"queries": ["DELETE FROM personas"]})
        action = sql_benchmark.build(spec, binding("staging"), make_deps(sql=sql_targets))
        with pytest.raises(ActionFailed, match="ion-staging-db refused a benchmark query"):
            await action.apply(action.targets()[0], None, Progress())
