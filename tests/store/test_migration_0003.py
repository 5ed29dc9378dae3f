"""Migration 0003 (execution leases) goes down and up again and leaves the schema as the models say."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from bot.store.db import create_engine_for
from bot.store.migrate import alembic_config, current_revision, upgrade
from bot.store.tables import Base
from tests.store.test_migrations import empty_database_url

__all__ = ["empty_database_url"]  # the fixture, on SQLite and PostgreSQL


async def downgrade(url: str, revision: str) -> None:
    config = alembic_config(url)
    engine = create_engine_for(url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


async def execution_columns(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            columns = await connection.run_sync(lambda sync: inspect(sync).get_columns("executions"))
            return {column["name"] for column in columns}
    finally:
        await engine.dispose()


async def schema_drift(url: str) -> list[Any]:
    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
    finally:
        await engine.dispose()


async def test_the_lease_columns_go_down_to_0002_and_come_back_at_head(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    lease_columns = {"owner", "heartbeat_at"}
    assert lease_columns <= await execution_columns(empty_database_url)

    await downgrade(empty_database_url, "0002")
    assert await current_revision(empty_database_url) == "0002"
    assert not lease_columns & await execution_columns(empty_database_url)

    await upgrade(empty_database_url)
    assert lease_columns <= await execution_columns(empty_database_url)


async def test_the_migrated_executions_table_matches_the_models(empty_database_url: str) -> None:
    await upgrade(empty_database_url)

    drift = [d for d in await schema_drift(empty_database_url) if "executions" in repr(d)]

    assert drift == []
