"""The simulation's own store answers repeated reads from memory, and never with something stale."""

from __future__ import annotations

from pathlib import Path

from bot.engine.clock import VirtualClock
from bot.engine.records import RunState, StepState
from bot.store.migrate import ensure_schema
from bot.store.repository import SoleWriterStore
from tests.store.conftest import T0
from tests.store.records import a_lane, a_run


async def _store(tmp_path: Path) -> SoleWriterStore:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ion.db'}"
    await ensure_schema(url)
    return SoleWriterStore.open_throwaway(url, VirtualClock(T0))


async def test_a_write_is_seen_by_the_next_read_of_its_table(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        run = await store.create_run(a_run())
        assert [r.id for r in await store.open_runs()] == [run.id]
        await store.put_lane(a_lane(run, StepState.PENDING), None)
        assert [lane.state for lane in await store.lanes(run.id)] == [StepState.PENDING]
        await store.put_lane(a_lane(run, StepState.DONE), expected=StepState.PENDING)
        assert [lane.state for lane in await store.lanes(run.id)] == [StepState.DONE]
        run.state = RunState.FINISHED
        await store.save_run(run)
        assert await store.open_runs() == []
        await store.put_value("k", {"n": 1})
        assert await store.get_value("k") == {"n": 1}
        await store.put_value("k", {"n": 2})
        assert await store.get_value("k") == {"n": 2}
    finally:
        await store.close()


async def test_changing_a_returned_record_does_not_change_what_is_read_next(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        run = await store.create_run(a_run())
        first = await store.get_run(run.id)
        assert first is not None
        first.state = RunState.ABANDONED
        again = await store.get_run(run.id)
        assert again is not None and again.state is RunState.ACTIVE
    finally:
        await store.close()
