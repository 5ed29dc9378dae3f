"""Migration 0006 (outbox claims) goes down and up again and leaves the outbox as the models say."""

from __future__ import annotations

from sqlalchemy import inspect

from bot.store.db import create_engine_for
from bot.store.migrate import current_revision, upgrade
from tests.store.test_migration_0003 import downgrade, schema_drift
from tests.store.test_migrations import empty_database_url

__all__ = ["empty_database_url"]  # the fixture, on SQLite and PostgreSQL

CLAIM_COLUMNS = {"claimed_by", "claimed_until"}


async def outbox_columns(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            columns = await connection.run_sync(lambda sync: inspect(sync).get_columns("outbox"))
            return {column["name"] for column in columns}
    finally:
        await engine.dispose()


async def test_the_claim_columns_go_down_to_0005_and_come_back_at_head(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    assert await outbox_columns(empty_database_url) >= CLAIM_COLUMNS

    await downgrade(empty_database_url, "0005")
    assert await current_revision(empty_database_url) == "0005"
    assert not CLAIM_COLUMNS & await outbox_columns(empty_database_url)

    await upgrade(empty_database_url)
    assert await outbox_columns(empty_database_url) >= CLAIM_COLUMNS


async def test_the_migrated_outbox_table_matches_the_models(empty_database_url: str) -> None:
    await upgrade(empty_database_url)

    drift = [d for d in await schema_drift(empty_database_url) if "outbox" in repr(d)]

    assert drift == []
