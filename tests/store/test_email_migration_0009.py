"""Migration 0009 (a report email's retry on its claim): claims an older bot took stay taken and are
never retried (they hold no message), and the revision goes down and up again matching the models."""

from __future__ import annotations

from datetime import timedelta

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

CLAIM = text(
    "INSERT INTO post_claims (job_key, run_id, local_date, claimed_at) "
    "VALUES ('email:daily_report:run-1:1', 'run-1', '2026-04-20', :at)"
).bindparams(bindparam("at", type_=UtcDateTime()))


async def an_older_bots_email_claim(url: str) -> None:
    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(CLAIM, {"at": T0})
    finally:
        await engine.dispose()


async def test_an_older_email_claim_stays_taken_and_is_never_retried(empty_database_url: str) -> None:
    await upgrade(empty_database_url, "0008")
    await an_older_bots_email_claim(empty_database_url)
    await upgrade(empty_database_url)
    store = SqlStore(create_engine_for(empty_database_url))
    try:
        assert await store.due_emails(T0 + timedelta(days=30)) == []
        claim = await store.claim_email("daily_report:run-1:1", "run-1", "2026-04-20", "Subject: x", T0)
        assert claim is None
    finally:
        await store.close()


async def test_0009_goes_down_to_0008_and_comes_back_matching_the_models(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await downgrade(empty_database_url, "0008")
    assert await current_revision(empty_database_url) == "0008"
    await upgrade(empty_database_url)
    assert await current_revision(empty_database_url) == HEAD_REVISION
    assert [d for d in await schema_drift(empty_database_url) if "post_claims" in repr(d)] == []
