"""One contract, three stores: the FakeStore the engine tests use, and SqlStore on SQLite and on
PostgreSQL (skipped without ION_TEST_POSTGRES_URL, failed in CI, like the other store tests).

A ``Subject`` is a store under test plus what the contract needs around it: more handles on the same
data (replicas: for the SQL store another connection pool, for the fake the same dictionaries) and
the error a duplicate unique key raises (the SQL store's IntegrityError, the fake's DuplicateKey).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from bot.engine.clock import VirtualClock
from bot.engine.store import RolloutStore
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.engine.fakes import DuplicateKey, FakeStore
from tests.store.conftest import T0, sqlite_url
from tests.store.databases import empty_all_tables


@dataclass
class Subject:
    store: RolloutStore
    clock: VirtualClock
    duplicate: type[Exception]
    url: str | None = None  # the SQL store's database; None for the fake
    _opened: list[SqlStore] = field(default_factory=list)

    def replica(self) -> RolloutStore:
        """Another handle on the same data: another process's connection pool, or the same fake."""
        if self.url is None:
            return self.store
        return self.sql_replica()

    @property
    def sql(self) -> SqlStore:
        """The store as the SqlStore it is (the ports only it implements)."""
        assert isinstance(self.store, SqlStore)
        return self.store

    def sql_replica(self) -> SqlStore:
        assert self.url is not None
        other = SqlStore(create_engine_for(self.url), self.clock)
        self._opened.append(other)
        return other

    async def close(self) -> None:
        for store in [*self._opened, self.store]:
            if isinstance(store, SqlStore):
                await store.close()


async def _empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with no rows: a copy of the SQLite template, or the session's PostgreSQL emptied."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("migrated_sqlite_template")
        shutil.copyfile(template, tmp_path / "ion.db")
        return sqlite_url(tmp_path / "ion.db")
    url: str = request.getfixturevalue("migrated_postgres")
    await empty_all_tables(url)
    return url


@pytest.fixture(params=["fake", "sqlite", "postgresql"])
async def subject(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    clock = VirtualClock(T0)
    if request.param == "fake":
        made = Subject(FakeStore(), clock, DuplicateKey)
    else:
        url = await _empty_database(request, tmp_path)
        made = Subject(SqlStore(create_engine_for(url), clock), clock, IntegrityError, url)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Subject]:
    """The ports only SqlStore implements (alerts, outbox, post claims, settings): no fake of them
    keeps their whole contract (see the report of issue 18), so they are held to it on both databases."""
    clock = VirtualClock(T0)
    url = await _empty_database(request, tmp_path)
    made = Subject(SqlStore(create_engine_for(url), clock), clock, IntegrityError, url)
    try:
        yield made
    finally:
        await made.close()
