"""Migration 0005 (gate versions) keeps every stored gate and sign-off, goes down and up again, and
leaves the gate tables as the models say."""

from __future__ import annotations

from sqlalchemy import bindparam, inspect, text

from bot.store.columns import UtcDateTime
from bot.store.db import create_engine_for
from bot.store.migrate import current_revision, upgrade
from bot.store.repository import SqlStore
from tests.store.conftest import T0
from tests.store.test_migration_0003 import downgrade, schema_drift
from tests.store.test_migrations import empty_database_url

__all__ = ["empty_database_url"]  # the fixture, on SQLite and PostgreSQL

RUN = text(
    "INSERT INTO runs (id, runbook_id, channel, start_date, state, created_at, created_by, dry_run, version) "
    "VALUES ('run-1', 'week17', 'C-rollout', '2026-04-20', 'paused', :at, 'U-lead', false, 1)"
).bindparams(bindparam("at", type_=UtcDateTime()))
GATE = text(
    "INSERT INTO gate_records (run_id, gate_id, health, decision, decided_by, decided_by_name, reason) "
    "VALUES ('run-1', 'gonogo.day3', '[]', 'no', 'U-mgr', 'maria', 'error budget burnt')"
)
SIGNOFF = text(
    "INSERT INTO gate_signoffs (run_id, gate_id, role, user_id, name, at) "
    "VALUES ('run-1', 'gonogo.day3', :role, :user, :name, :at)"
).bindparams(bindparam("at", type_=UtcDateTime()))


async def an_older_bots_gate(url: str) -> None:
    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(RUN, {"at": T0})
            await connection.execute(GATE)
            for role, user, name in (("manager", "U-mgr", "maria"), ("lead", "U-lead", "lee")):
                await connection.execute(SIGNOFF, {"role": role, "user": user, "name": name, "at": T0})
    finally:
        await engine.dispose()


async def gate_columns(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            columns = await connection.run_sync(lambda sync: inspect(sync).get_columns("gate_records"))
            return {column["name"] for column in columns}
    finally:
        await engine.dispose()


async def test_upgrading_keeps_gates_and_their_sign_offs_at_version_1(empty_database_url: str) -> None:
    await upgrade(empty_database_url, "0004")
    await an_older_bots_gate(empty_database_url)

    await upgrade(empty_database_url)

    store = SqlStore(create_engine_for(empty_database_url))
    try:
        gate = await store.get_gate("run-1", "gonogo.day3")
        assert gate is not None and gate.version == 1 and gate.decision == "no"
        assert [s.role for s in gate.signoffs] == ["manager", "lead"]
    finally:
        await store.close()


async def test_the_version_column_goes_down_to_0004_and_comes_back_at_head(empty_database_url: str) -> None:
    await upgrade(empty_database_url, "0004")
    await an_older_bots_gate(empty_database_url)
    await upgrade(empty_database_url)

    await downgrade(empty_database_url, "0004")
    assert await current_revision(empty_database_url) == "0004"
    assert "version" not in await gate_columns(empty_database_url)

    await upgrade(empty_database_url)
    store = SqlStore(create_engine_for(empty_database_url))
    try:
        gate = await store.get_gate("run-1", "gonogo.day3")
        assert gate is not None and gate.version == 1 and len(gate.signoffs) == 2
    finally:
        await store.close()


async def test_the_migrated_gate_tables_match_the_models(empty_database_url: str) -> None:
    await upgrade(empty_database_url)

    drift = [d for d in await schema_drift(empty_database_url) if "gate_" in repr(d)]

    assert drift == []
