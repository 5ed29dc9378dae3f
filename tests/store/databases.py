"""Throw-away databases for the store tests: SQLite files and PostgreSQL databases.

PostgreSQL runs only when ION_TEST_POSTGRES_URL is set; in CI (CI=true) its absence is
a failure, so a misconfigured pipeline cannot pass by skipping the PostgreSQL half.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.store.db import create_engine_for, normalise_url
from bot.store.tables import Base

POSTGRES_ENV = "ION_TEST_POSTGRES_URL"


def postgres_server_url() -> str:
    """The server to create test databases on; skips (or fails in CI) when none is configured."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"CI is true but {POSTGRES_ENV} is not set, so the PostgreSQL store tests could not run. "
            f"Set {POSTGRES_ENV}, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test."
        )
    pytest.skip(f"{POSTGRES_ENV} is not set; PostgreSQL store tests skipped")


async def create_postgres_database(server_url: str) -> str:
    """A new, empty database on the server; returns its URL."""
    name = f"ion_store_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine_for(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return normalise_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    engine = create_engine_for(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


async def empty_all_tables(database_url: str) -> None:
    """Start a test on a migrated PostgreSQL database with no rows in it."""
    names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    engine = create_engine_for(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
