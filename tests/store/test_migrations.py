"""Schema versions: an empty database migrates to head, and a stale one is refused in words."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from bot.store.cli import db_current, db_upgrade
from bot.store.db import create_engine_for, normalise_url
from bot.store.migrate import (
    SchemaBehind,
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    upgrade,
    url_without_password,
)
from bot.store.tables import Base
from tests.store.conftest import sqlite_url
from tests.store.databases import create_postgres_database, drop_postgres_database, postgres_server_url


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


async def table_names(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


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


async def test_ensure_schema_upgrades_an_embedded_sqlite_by_itself(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "embedded.db")
    await ensure_schema(url)
    assert await current_revision(url) == head_revision()


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
