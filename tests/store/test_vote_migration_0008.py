"""Migration 0008 (deliveries, one active vote): a store an older bot left with two active votes of
one person on a lane (concurrent clicks) keeps the newest active, and goes down and up again."""

from __future__ import annotations

from sqlalchemy import bindparam, text

from bot.store.columns import UtcDateTime
from bot.store.db import create_engine_for
from bot.store.migrate import current_revision, upgrade
from bot.store.repository import SqlStore
from bot.store.schema import HEAD_REVISION
from tests.store.conftest import T0
from tests.store.test_migration_0003 import downgrade, schema_drift
from tests.store.test_migrations import empty_database_url

__all__ = ["empty_database_url"]  # the fixture, on SQLite and PostgreSQL

RUN = text(
    "INSERT INTO runs (id, runbook_id, channel, start_date, state, created_at, created_by, dry_run, version) "
    "VALUES ('run-1', 'week17', 'C-rollout', '2026-04-20', 'active', :at, 'U-lead', false, 1)"
).bindparams(bindparam("at", type_=UtcDateTime()))
VOTE = text(
    "INSERT INTO approvals (id, run_id, step_id, environment, role, user_id, name, decision, at, plan_fingerprint) "
    "VALUES (:id, 'run-1', 'day2.1', 'production', 'manager', :user, 'maria', 'approved', :at, 'plan-1')"
).bindparams(bindparam("at", type_=UtcDateTime()))


async def an_older_bots_double_votes(url: str) -> None:
    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(RUN, {"at": T0})
            for vote_id, user in (("vote-a", "U-maria"), ("vote-b", "U-maria"), ("vote-c", "U-sam")):
                await connection.execute(VOTE, {"id": vote_id, "user": user, "at": T0})
    finally:
        await engine.dispose()


async def test_upgrading_keeps_one_active_vote_per_person_and_lane(empty_database_url: str) -> None:
    await upgrade(empty_database_url, "0007")
    await an_older_bots_double_votes(empty_database_url)

    await upgrade(empty_database_url)

    store = SqlStore(create_engine_for(empty_database_url))
    try:
        votes = await store.approvals("run-1", "day2.1", "production")
        assert sorted((v.id, v.active) for v in votes) == [("vote-a", False), ("vote-b", True), ("vote-c", True)]
    finally:
        await store.close()


async def test_0008_goes_down_to_0007_and_comes_back_matching_the_models(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await downgrade(empty_database_url, "0007")
    assert await current_revision(empty_database_url) == "0007"
    await upgrade(empty_database_url)
    assert await current_revision(empty_database_url) == HEAD_REVISION
    drift = [d for d in await schema_drift(empty_database_url) if "approvals" in repr(d) or "deliveries" in repr(d)]
    assert drift == []
