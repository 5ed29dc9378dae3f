"""A unit of work on the simulation's throwaway store: its driver begins transactions itself, and
the store answers repeated reads from memory; a unit rolled back must leave neither a row nor a
cached answer of it."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.records import StepState
from bot.engine.units import unit_of_work
from bot.store.repository import SoleWriterStore
from tests.store.conftest import T0, sqlite_url
from tests.store.records import a_lane, a_run, an_audit_entry


class Cut(Exception):
    """The use case is cut off between two of its writes."""


@pytest.fixture
async def throwaway(migrated_sqlite_template: Path, tmp_path: Path) -> AsyncIterator[SoleWriterStore]:
    shutil.copyfile(migrated_sqlite_template, tmp_path / "sim.db")
    store = SoleWriterStore.open_throwaway(sqlite_url(tmp_path / "sim.db"), VirtualClock(T0))
    try:
        yield store
    finally:
        await store.close()


async def test_a_unit_rolled_back_on_a_throwaway_store_leaves_no_row_and_no_cached_answer(
    throwaway: SoleWriterStore,
) -> None:
    run = await throwaway.create_run(a_run())
    assert await throwaway.lanes(run.id) == []  # now a cached answer
    with pytest.raises(Cut):
        async with unit_of_work():
            assert await throwaway.put_lane(a_lane(run, StepState.READY), None)
            await throwaway.append_audit(an_audit_entry("step state", run.id))
            await throwaway.put_value("handover:accepted", {"by": "sam"})
            assert [lane.state for lane in await throwaway.lanes(run.id)] == [StepState.READY]
            assert await throwaway.get_value("handover:accepted") == {"by": "sam"}
            raise Cut
    assert await throwaway.lanes(run.id) == []
    assert await throwaway.audit(run.id) == []
    assert await throwaway.get_value("handover:accepted") is None


async def test_a_unit_on_a_throwaway_store_commits_each_of_its_writes_once(throwaway: SoleWriterStore) -> None:
    run = await throwaway.create_run(a_run())
    async with unit_of_work():
        assert await throwaway.put_lane(a_lane(run, StepState.READY), None)
        assert not await throwaway.put_lane(a_lane(run, StepState.READY), None)  # taken: only this call undone
        await throwaway.append_audit(an_audit_entry("step state", run.id))
    assert [lane.state for lane in await throwaway.lanes(run.id)] == [StepState.READY]
    assert len(await throwaway.audit(run.id)) == 1
