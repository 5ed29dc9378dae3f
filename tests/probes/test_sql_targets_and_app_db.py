"""Database names from configuration, the dialect rewrite of EXPLAIN, and the sim's app database."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.cloud.sql_target import SqlTargetError, SqlTargets, for_dialect, format_table, read_only_query
from bot.sim.app_db import SEED_NOW, AppDbSize, copy_app_db, create_app_db, metadata, seed_rows, sqlite_insert

from .conftest import SMALL_DB

LOOKUP = "SELECT * FROM personas WHERE tone='calm' AND pace='flowing' AND intent='seek_advice'"


async def test_targets_come_from_the_json_environment_variable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'staging.db'}"
    targets = SqlTargets.from_env({"ION_SQL_TARGETS": f'{{"ion-staging-db": "{url}"}}'})
    assert targets.names() == ["ion-staging-db"]
    engine = targets.engine("ion-staging-db")
    assert targets.engine("ion-staging-db") is engine
    result = await read_only_query(engine, "SELECT 41 + 1 AS answer", row_cap=5)
    assert result.rows == ((42,),)
    await targets.dispose()
    assert SqlTargets.from_env({}).names() == []


def test_an_unknown_database_names_the_configuration_to_set() -> None:
    targets = SqlTargets({"ion-staging-db": "sqlite+aiosqlite:///x.db"})
    with pytest.raises(SqlTargetError) as err:
        targets.engine("ion-primary-db")
    assert str(err.value) == (
        "no SQL target named 'ion-primary-db' is configured (configured: ion-staging-db); "
        'set ION_SQL_TARGETS to JSON such as {"ion-primary-db": "postgresql+asyncpg://user@host/db"}'
    )


def test_malformed_configuration_is_a_sentence_with_an_example() -> None:
    with pytest.raises(SqlTargetError, match=r"ION_SQL_TARGETS is not valid JSON .* set it to an object such as"):
        SqlTargets.from_env({"ION_SQL_TARGETS": "{ion-primary-db: x}"})
    with pytest.raises(SqlTargetError, match="must be a JSON object of database name -> SQLAlchemy URL"):
        SqlTargets.from_env({"ION_SQL_TARGETS": '["ion-primary-db"]'})


def test_explain_becomes_explain_query_plan_on_sqlite_only() -> None:
    assert for_dialect(f"EXPLAIN {LOOKUP}", "sqlite") == f"EXPLAIN QUERY PLAN {LOOKUP}"
    assert for_dialect(f"explain query plan {LOOKUP}", "sqlite") == f"explain query plan {LOOKUP}"
    assert for_dialect(f"EXPLAIN {LOOKUP}", "postgresql") == f"EXPLAIN {LOOKUP}"
    assert for_dialect(LOOKUP, "sqlite") == LOOKUP


def test_tables_are_aligned_text() -> None:
    assert format_table(["tone", "n"], [("calm", 12), ("direct", None)]) == (
        "tone   | n\n-------+-----\ncalm   | 12\ndirect | NULL"
    )


async def test_the_persona_index_turns_a_scan_into_an_index_search(tmp_path: Path) -> None:
    engine = await create_app_db(tmp_path / "app.db", size=SMALL_DB)
    before = await read_only_query(engine, f"EXPLAIN {LOOKUP}", row_cap=10)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE INDEX idx_persona_tone_pace_intent ON personas(tone, pace, intent)")
    after = await read_only_query(engine, f"EXPLAIN {LOOKUP}", row_cap=10)
    await engine.dispose()
    assert "SCAN personas" in before.text()
    assert "SEARCH personas USING INDEX idx_persona_tone_pace_intent" in after.text()


async def test_the_app_database_is_the_same_every_time(tmp_path: Path) -> None:
    size = AppDbSize(personas=400, users=20, preferences=100, sessions=100, slow_queries=40)
    fingerprints = []
    for name in ("a.db", "b.db"):
        engine = await create_app_db(tmp_path / name, size=size)
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT (SELECT group_concat(tone || pace || intent) FROM personas), "
                    "(SELECT group_concat(session_id) FROM sessions), "
                    "(SELECT round(sum(execution_time_ms), 2) FROM slow_query_log)"
                )
            )
            fingerprints.append(rows.one())
        await engine.dispose()
    assert fingerprints[0] == fingerprints[1]
    assert "calmflowingseek_advice" in fingerprints[0][0]


async def test_the_sqlite_seed_stores_exactly_what_sqlalchemys_insert_stores(tmp_path: Path) -> None:
    """The SQLite seeding skips SQLAlchemy's per-row binding; every stored value, times included, is the same."""
    size = AppDbSize(personas=300, users=20, preferences=200, sessions=200, slow_queries=40)
    stored = []
    for name, driver_level in (("portable.db", False), ("fast.db", True)):
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / name}")
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            for table, rows in seed_rows(random.Random(17), size, SEED_NOW).items():
                chunk = list(rows)
                if driver_level:
                    await conn.exec_driver_sql(*sqlite_insert(table, chunk))
                else:
                    await conn.execute(insert(table), chunk)
        async with engine.connect() as conn:
            tables = ("personas", "user_preferences", "sessions", "slow_query_log")
            stored.append({t: (await conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY id")).all() for t in tables})
        await engine.dispose()
    assert stored[0] == stored[1]
    assert [len(rows) for rows in stored[1].values()] == [300, 200, 200, 40]
    created_at = stored[1]["sessions"][0][3]
    assert isinstance(created_at, str) and len(created_at) == 26  # "2026-04-.. ..:..:...ffffff", as SQLAlchemy writes


async def test_a_copied_app_database_has_every_row_and_both_stay_usable(tmp_path: Path) -> None:
    size = AppDbSize(personas=400, users=20, preferences=100, sessions=3000, slow_queries=40)
    original = await create_app_db(tmp_path / "staging.db", size=size)
    copy = await copy_app_db(original, tmp_path / "staging.db", tmp_path / "production.db")
    counts = []
    for engine in (original, copy):
        async with engine.connect() as conn:
            counts.append((await conn.execute(text("SELECT count(*), max(session_id) FROM sessions"))).one())
        await engine.dispose()
    assert counts[0] == counts[1] and counts[0][0] == 3000


async def test_the_sims_own_app_databases_run_on_the_event_loops_thread(tmp_path: Path) -> None:
    from bot.store.inline_sqlite import InlineConnection

    first = await create_app_db(tmp_path / "first.db", size=SMALL_DB)
    copy = await copy_app_db(first, tmp_path / "first.db", tmp_path / "copy.db")
    try:
        for engine in (first, copy):
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                assert isinstance(raw.driver_connection, InlineConnection)  # no worker thread to hand off to
                count = await conn.scalar(text("SELECT count(*) FROM personas"))
                assert count == SMALL_DB.personas
    finally:
        await first.dispose()
        await copy.dispose()
