"""Schema versions: an empty database migrates to head, and a stale one is refused in words."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from bot.store.cli import db_current, db_upgrade
from bot.store.db import create_engine_for, normalise_url
from bot.store.migrate import alembic_config, current_revision, head_revision, upgrade, url_without_password
from bot.store.schema import HEAD_REVISION, SchemaBehind, ensure_schema
from bot.store.tables import Base
from tests.store.conftest import sqlite_url
from tests.store.databases import create_postgres_database, drop_postgres_database, postgres_server_url

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables at all, on each backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "empty.db")
        return
    server = postgres_server_url()
    url = await create_postgres_database(server)
    try:
        yield url
    finally:
        await drop_postgres_database(server, url)


async def read(url: str, reader: Callable[[Connection], T]) -> T:
    """``reader`` on a connection of its own engine, disposed after."""
    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(reader)
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    return set(await read(url, lambda sync: inspect(sync).get_table_names()))


async def schema_differences(url: str) -> list[object]:
    """Alembic's comparison of the database with the models, types and server defaults included."""
    options = {"compare_type": True, "compare_server_default": True}
    return await read(url, lambda sync: compare_metadata(MigrationContext.configure(sync, opts=options), Base.metadata))


async def described_schema(url: str) -> dict[str, object]:
    """Every table's columns, keys, indexes and constraints as SQLAlchemy's inspector reports them."""

    def describe(sync: Connection) -> dict[str, object]:
        found = inspect(sync)
        return {
            name: (
                # sorted: a column added by a later migration comes last, which no query depends on
                sorted((c["name"], str(c["type"]), c["nullable"], c.get("default")) for c in found.get_columns(name)),
                found.get_pk_constraint(name)["constrained_columns"],
                sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in found.get_indexes(name)),
                sorted((u["name"] or "", tuple(u["column_names"])) for u in found.get_unique_constraints(name)),
                sorted((tuple(f["constrained_columns"]), f["referred_table"]) for f in found.get_foreign_keys(name)),
            )
            for name in sorted(found.get_table_names())
        }

    return await read(url, describe)


async def stamp(url: str, revision: str) -> None:
    """Record a revision without running migrations (simulates a database written by another bot)."""
    config = alembic_config(url)
    engine = create_engine_for(url)

    def run(connection: object) -> None:
        config.attributes["connection"] = connection
        command.stamp(config, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


async def test_an_empty_database_has_no_revision_and_upgrades_to_head_with_every_table(
    empty_database_url: str,
) -> None:
    assert await current_revision(empty_database_url) is None

    await upgrade(empty_database_url)

    assert await current_revision(empty_database_url) == head_revision()
    expected = {table.name for table in Base.metadata.sorted_tables} | {"alembic_version"}
    assert await table_names(empty_database_url) == expected


async def test_upgrading_twice_changes_nothing_the_second_time(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await upgrade(empty_database_url)
    assert await current_revision(empty_database_url) == head_revision()


async def test_ensure_schema_refuses_a_database_behind_with_the_exact_message(
    empty_database_url: str,
) -> None:
    shown = url_without_password(empty_database_url)
    expected = (
        f"the database at {shown} is at revision none but this bot needs {head_revision()}; run `ionbot db upgrade`"
    )
    with pytest.raises(SchemaBehind) as refused:
        await ensure_schema(empty_database_url, auto_upgrade=False)
    assert str(refused.value) == expected
    assert await table_names(empty_database_url) == set()


async def test_ensure_schema_refuses_a_revision_this_bot_does_not_know(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "newer.db")
    await upgrade(url)
    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    finally:
        await engine.dispose()

    with pytest.raises(SchemaBehind, match="is at revision 9999, which this bot does not know"):
        await ensure_schema(url)


async def test_ensure_schema_builds_a_new_embedded_sqlite_from_the_models_at_head(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "embedded.db")
    await ensure_schema(url)
    assert await current_revision(url) == head_revision()  # as Alembic reads it
    assert await schema_differences(url) == []
    migrated = sqlite_url(tmp_path / "migrated.db")
    await upgrade(migrated)
    assert await described_schema(url) == await described_schema(migrated)
    await upgrade(url)  # Alembic sees head: nothing to run
    assert await current_revision(url) == head_revision()


async def test_ensure_schema_upgrades_an_embedded_sqlite_behind_through_alembic(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "behind.db")
    await upgrade(url, "0005")
    await ensure_schema(url)
    assert await current_revision(url) == head_revision()
    assert await schema_differences(url) == []


async def test_two_processes_starting_on_one_new_sqlite_file_build_it_once(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "shared.db")
    await asyncio.gather(ensure_schema(url), ensure_schema(url))
    assert await current_revision(url) == head_revision()
    assert await schema_differences(url) == []


def test_head_revision_is_alembics_head() -> None:
    assert head_revision() == HEAD_REVISION, "bump HEAD_REVISION in bot/store/schema.py with each new migration"


async def test_the_migrations_build_exactly_the_models_schema(empty_database_url: str) -> None:
    """What lets a new embedded file be built from the models: the migrations make the same schema."""
    await upgrade(empty_database_url)
    assert await schema_differences(empty_database_url) == []


def test_a_bot_starting_on_a_database_at_head_never_loads_alembic(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from bot.store.schema import ensure_schema\n"
        f"asyncio.run(ensure_schema({sqlite_url(tmp_path / 'fresh.db')!r}))\n"
        f"asyncio.run(ensure_schema({sqlite_url(tmp_path / 'fresh.db')!r}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO)
    assert shown.stdout.strip() == "[]"


async def test_ensure_schema_leaves_postgresql_to_a_person_by_default() -> None:
    server = postgres_server_url()
    url = await create_postgres_database(server)
    try:
        with pytest.raises(SchemaBehind, match="run `ionbot db upgrade`"):
            await ensure_schema(url)
        assert await current_revision(url) is None
    finally:
        await drop_postgres_database(server, url)


def test_the_password_never_appears_in_the_refusal() -> None:
    assert url_without_password("postgresql://ion:s3cret@db.internal/ion") == "postgresql://ion@db.internal/ion"


def test_plain_urls_are_normalised_to_the_async_drivers() -> None:
    assert str(normalise_url("sqlite:///x.db")) == "sqlite+aiosqlite:///x.db"
    assert str(normalise_url("postgresql://u@h/db")) == "postgresql+asyncpg://u@h/db"
    assert str(normalise_url("postgresql+asyncpg://u@h/db")) == "postgresql+asyncpg://u@h/db"


def test_a_database_the_bot_cannot_use_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="does not support; nothing was opened"):
        normalise_url("mysql://u:pw@h/db")


def test_db_upgrade_and_db_current_report_and_return_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run: Callable[[str], int]
    for run, expected_code in ((db_current, 1), (db_upgrade, 0), (db_upgrade, 0), (db_current, 0)):
        assert run(url) == expected_code
    out = capsys.readouterr().out
    assert "is at revision none; this bot needs" in out
    assert f"from revision none to {head_revision()}" in out
    assert "already at revision" in out
    assert f"is at revision {head_revision()} (head)" in out


def test_db_upgrade_explains_an_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert db_upgrade("sqlite:////nonexistent-dir/for/sure/ion.db") == 1
    assert "does not exist. Nothing was changed." in capsys.readouterr().out
