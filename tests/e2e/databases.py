"""Throw-away databases for the e2e tests: a SQLite file, or a fresh PostgreSQL database.

PostgreSQL runs only when ION_TEST_POSTGRES_URL is set; with CI=true its absence is a failure,
so a pipeline that forgot the database cannot pass by skipping the half that matters most.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.store.db import create_engine_for, normalise_url
from bot.store.migrate import upgrade

POSTGRES_ENV = "ION_TEST_POSTGRES_URL"
BACKENDS = ("sqlite", "postgresql")
T = TypeVar("T")


def run_aside(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on its own loop in a thread: fixtures may be set up inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def postgres_server() -> str:
    """The server to create databases on; skips the test, or fails it in CI, when none is set."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(
            f"CI is true but {POSTGRES_ENV} is not set, so the PostgreSQL end-to-end tests could not run. "
            f"Set {POSTGRES_ENV}, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test."
        )
    pytest.skip(f"{POSTGRES_ENV} is not set; the PostgreSQL end-to-end tests were skipped")


async def create_postgres(server: str) -> str:
    """A new database on ``server``, migrated to head (bootstrap never upgrades PostgreSQL itself)."""
    name = f"ion_e2e_{uuid.uuid4().hex[:12]}"
    engine = create_engine_for(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    url = normalise_url(server).set(database=name).render_as_string(hide_password=False)
    await upgrade(url)
    return url


async def drop_postgres(server: str, url: str) -> None:
    engine = create_engine_for(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        await engine.dispose()


class Databases:
    """Hands out databases of one backend and drops the PostgreSQL ones at the end."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self._folder = folder
        self._server = postgres_server() if backend == "postgresql" else ""
        self._made: list[str] = []

    def new(self) -> str:
        if self.backend == "sqlite":
            path = self._folder / f"ion-{uuid.uuid4().hex[:8]}.db"
            return sqlite_url(path)
        url = run_aside(lambda: create_postgres(self._server))
        self._made.append(url)
        return url

    def drop_all(self) -> None:
        for url in self._made:
            run_aside(lambda url=url: drop_postgres(self._server, url))  # type: ignore[misc]
        self._made.clear()
