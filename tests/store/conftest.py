"""Fixtures: every store test runs on SQLite and (when configured) on PostgreSQL."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.engine.clock import VirtualClock
from bot.store.db import create_engine_for
from bot.store.migrate import upgrade
from bot.store.repository import SqlStore
from tests.store.databases import (
    create_postgres_database,
    drop_postgres_database,
    empty_all_tables,
    postgres_server_url,
)

T = TypeVar("T")

T0 = datetime(2026, 4, 20, 14, 0, tzinfo=UTC)  # Monday of week 17, 9 AM in Chicago


def run_aside(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on its own loop in a thread (session fixtures are set up
    lazily from inside a test's running loop, where asyncio.run is not allowed)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head; each test gets a copy (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "ion.db"
    run_aside(lambda: upgrade(sqlite_url(path)))
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    """A PostgreSQL database for this test session, migrated to head and dropped at the end."""
    server = postgres_server_url()
    url = run_aside(lambda: create_postgres_database(server))
    try:
        run_aside(lambda: upgrade(url))
        yield url
    finally:
        run_aside(lambda: drop_postgres_database(server, url))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with no rows, on each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("migrated_sqlite_template")
        path = tmp_path / "ion.db"
        shutil.copyfile(template, path)
        return sqlite_url(path)
    url: str = request.getfixturevalue("migrated_postgres")
    await empty_all_tables(url)
    return url


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
async def store(database_url: str, clock: VirtualClock) -> AsyncIterator[SqlStore]:
    store = SqlStore(create_engine_for(database_url), clock)
    try:
        yield store
    finally:
        await store.close()
