"""Issue 14: the sim's application databases are seeded when first used, not before the bot answers.

Seeding 60,000 rows took a second of every `ionbot serve` start on the embedded default; now the
bot is wired at once and the first connection to an application database starts the seeding and
waits for it, so nothing reads a database half-seeded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.bootstrap_cloud import SimParts, sim_parts
from bot.config import Settings
from bot.engine.clock import SystemClock
from bot.runbook.loader import load_runbook
from bot.sim import app_db
from tests.e2e.app_dbs import AppDbTemplate
from tests.runtime.harness import RUNBOOK


class HeldSeeding:
    """``create_app_db`` that waits to be let go: the test decides when the seeding may finish."""

    def __init__(self, template: AppDbTemplate) -> None:
        self.template = template
        self.started = asyncio.Event()
        self.let_go = asyncio.Event()

    async def create(self, path: str | Path, *, size: app_db.AppDbSize, now: datetime, seed: int = 17) -> AsyncEngine:
        self.started.set()
        await self.let_go.wait()
        return await self.template.create(path, size=size, now=now, seed=seed)


@pytest.fixture
def held(app_db_template: AppDbTemplate, monkeypatch: pytest.MonkeyPatch) -> HeldSeeding:
    seeding = HeldSeeding(app_db_template)
    monkeypatch.setattr(app_db, "create_app_db", seeding.create)
    return seeding


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as stack:
        yield stack


async def _sim(stack: AsyncExitStack) -> SimParts:
    settings = Settings(ION_RUNBOOK=RUNBOOK)
    parts, _ = await sim_parts(settings, load_runbook(RUNBOOK), SystemClock(), stack, [], None)
    return parts


async def _personas(engine: object) -> int:
    assert isinstance(engine, AsyncEngine)
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM personas"))).scalar_one())


async def test_the_sim_world_is_wired_without_seeding_its_application_databases(
    held: HeldSeeding, stack: AsyncExitStack
) -> None:
    sim = await _sim(stack)

    assert sim.app_dbs  # every database has its engine
    assert not held.started.is_set()  # and nothing was seeded for it


async def test_the_first_read_seeds_them_and_waits_for_every_row(held: HeldSeeding, stack: AsyncExitStack) -> None:
    sim = await _sim(stack)
    reads = [asyncio.create_task(_personas(engine)) for engine in sim.app_dbs.values()]
    await held.started.wait()
    assert not any(read.done() for read in reads)  # held with the seeding

    held.let_go.set()

    assert await asyncio.gather(*reads) == [app_db.AppDbSize().personas] * len(reads)


async def test_closing_the_bot_while_the_seeding_runs_stops_it_and_removes_its_files(
    held: HeldSeeding,
) -> None:
    async with AsyncExitStack() as stack:
        sim = await _sim(stack)
        engine = next(iter(sim.app_dbs.values()))
        read = asyncio.create_task(_personas(engine))
        await held.started.wait()
        folder = Path(str(engine.url.database)).parent  # type: ignore[attr-defined]

    assert not folder.exists()
    with pytest.raises(asyncio.CancelledError):
        await read  # the read waiting for the seeding was told it stopped
