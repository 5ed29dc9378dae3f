"""Throw-away databases for the e2e tests: a SQLite file, or a fresh PostgreSQL database.

PostgreSQL runs only when ION_TEST_POSTGRES_URL is set; with CI=true its absence is a failure,
so a pipeline that forgot the database cannot pass by skipping the half that matters most.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from bot.store.migrate import upgrade
from tests.store.conftest import run_aside, sqlite_url
from tests.store.databases import create_postgres_database, drop_postgres_database, postgres_server_url

BACKENDS = ("sqlite", "postgresql")


async def create_postgres(server: str) -> str:
    """A new database on ``server``, migrated to head (bootstrap never upgrades PostgreSQL itself)."""
    url = await create_postgres_database(server)
    await upgrade(url)
    return url


class Databases:
    """Hands out databases of one backend and drops the PostgreSQL ones at the end."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self._folder = folder
        self._server = postgres_server_url() if backend == "postgresql" else ""
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
            run_aside(lambda url=url: drop_postgres_database(self._server, url))  # type: ignore[misc]
        self._made.clear()
