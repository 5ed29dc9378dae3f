"""/readyz asks the store for a write, not for ``SELECT 1``: a PostgreSQL that still answers reads
but refuses writes (a standby after a failover, a database set read-only) is not ready."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from bot.bootstrap import Bot, build
from bot.config import Settings
from bot.engine.clock import VirtualClock
from bot.engine.errors import StoreUnavailable
from bot.slack.server import database_and_loops_ready, make_web_app, start_site
from bot.store.db import create_engine_for
from bot.store.migrate import upgrade
from tests.slack_app.conftest import START
from tests.store.databases import create_postgres_database, drop_postgres_database, postgres_server_url

RUNBOOK = Path(__file__).with_name("runbook.yaml")


@pytest.fixture
async def postgres_bot() -> AsyncIterator[tuple[Bot, str]]:
    server = postgres_server_url()
    url = await create_postgres_database(server)
    await upgrade(url)
    bot = await build(Settings(database_url=url, runbook=RUNBOOK, cloud="sim"), clock=VirtualClock(START))
    try:
        yield bot, url
    finally:
        await bot.close()
        await drop_postgres_database(server, url)


async def set_read_only(url: str, read_only: bool) -> None:
    """As a failover to a standby would: every new session of the database is read-only."""
    name = url.rsplit("/", 1)[1]  # altered from the server's own database: this one may be read-only
    engine = create_engine_for(postgres_server_url(), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            value = "on" if read_only else "off"
            await connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}'))
    finally:
        await engine.dispose()


async def test_readyz_is_503_while_postgresql_answers_reads_but_refuses_writes_and_200_again_after(
    postgres_bot: tuple[Bot, str],
) -> None:
    bot, url = postgres_bot
    runner, port = await start_site(make_web_app(None, database_and_loops_ready(bot, [])), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            readyz = f"http://127.0.0.1:{port}/readyz"
            async with http.get(readyz) as response:
                assert response.status == 200

            await set_read_only(url, True)
            await bot.store.engine.dispose()  # the bot's sessions start afresh, as after a failover
            async with bot.store.engine.connect() as connection:
                assert await connection.scalar(text("SELECT 1")) == 1  # reads still work
            async with http.get(readyz) as response:
                assert response.status == 503
            assert bot.health is not None and "read-only" in str(bot.health.problem)
            with pytest.raises(StoreUnavailable):
                await bot.store.put_value("probe", 1)

            await set_read_only(url, False)
            await bot.store.engine.dispose()
            async with http.get(readyz) as response:
                assert response.status == 200
            assert bot.health.problem is None
    finally:
        await runner.cleanup()
