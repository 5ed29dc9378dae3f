"""The simulation's own store answers repeated reads from memory, and never with something stale."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.records import ChecklistTick, GateRecord, RunState, SignOff, StepState
from bot.store.db import UnsupportedDatabase, create_engine_for
from bot.store.inline_sqlite import InlineConnection
from bot.store.repository import SoleWriterStore, _clone
from bot.store.schema import ensure_schema
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


async def test_statements_run_on_the_loops_thread_and_concurrent_writers_take_turns(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        await asyncio.gather(*(store.put_value(f"k{n}", {"n": n}) for n in range(25)))
        async with store.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
        assert isinstance(driver, InlineConnection)
        assert not driver._thread.is_alive()  # aiosqlite's worker thread was never started
        assert [await store.get_value(f"k{n}") for n in range(25)] == [{"n": n} for n in range(25)]
        assert await store.claim_post("daily", "run-1", "2026-11-02")
        assert not await store.claim_post("daily", "run-1", "2026-11-02")  # the IntegrityError came back
        await store.put_value("after", 1)  # and the connection is usable after it
        assert await store.get_value("after") == 1
    finally:
        await store.close()


async def test_a_settings_write_keeps_the_other_cached_keys_and_a_foreign_write_drops_them(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        await store.put_value("a", [1])
        await store.put_value("b", [2])
        assert await store.get_value("a") == [1]
        await store.delete_value("b")
        assert await store.get_value("b") is None and await store.get_value("a") == [1]
        async with store.engine.begin() as conn:  # a write the store's own methods did not make
            await conn.exec_driver_sql("UPDATE settings SET value = '[9]' WHERE key = 'a'")
        assert await store.get_value("a") == [9]
        cached = await store.get_value("a")
        assert isinstance(cached, list)
        cached.append(10)  # changing an answer does not change the cache
        assert await store.get_value("a") == [9]
    finally:
        await store.close()


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///:memory:", "postgresql+asyncpg://localhost/x"])
def test_only_a_sqlite_file_can_be_a_throwaway_store(url: str) -> None:
    with pytest.raises(UnsupportedDatabase, match="throwaway"):
        create_engine_for(url, throwaway=True)


async def test_cached_checklists_gates_and_executions_follow_their_writes(tmp_path: Path) -> None:
    store = await _store(tmp_path)
    try:
        run = await store.create_run(a_run())
        assert await store.ticks(run.id, "day2.1") == []
        tick = ChecklistTick(run.id, "day2.1", "backup", "U1", "ana", T0)
        await store.put_tick(tick)
        assert await store.ticks(run.id, "day2.1") == [tick]
        assert await store.get_gate(run.id, "gonogo") is None
        gate = GateRecord(run.id, "gonogo", decision="yes", signoffs=[SignOff("lead", "U1", "ana", T0)])
        assert await store.save_gate(gate)
        stored = await store.get_gate(run.id, "gonogo")
        assert stored is not None and [s.role for s in stored.signoffs] == ["lead"]
        stored.signoffs.clear()  # changing an answer does not change the cache
        again = await store.get_gate(run.id, "gonogo")
        assert again is not None and len(again.signoffs) == 1
        again.signoffs.append(SignOff("sre", "U2", "bo", T0))
        assert await store.save_gate(again)
        latest = await store.get_gate(run.id, "gonogo")
        assert latest is not None and [s.role for s in latest.signoffs] == ["lead", "sre"]
    finally:
        await store.close()


def test_a_cached_answer_is_copied_to_its_leaves_and_shares_only_what_cannot_change() -> None:
    gate = GateRecord(run_id="r", gate_id="g", signoffs=[SignOff(role="lead", user_id="U1", name="lee", at=T0)])
    value = {"cards": [{"ts": "1.2", "rows": [1, 2.5, None, True]}], "gate": gate, "state": StepState.DONE}
    twin = _clone(value)
    assert twin == value
    twin["cards"][0]["rows"].append(3)
    twin["cards"][0]["ts"] = "9.9"
    twin["gate"].signoffs.append(SignOff(role="manager", user_id="U2", name="maria", at=T0))
    twin["gate"].signoffs[0].user_id = "U9"
    assert value["cards"] == [{"ts": "1.2", "rows": [1, 2.5, None, True]}]
    assert [(s.role, s.user_id) for s in gate.signoffs] == [("lead", "U1")]
    assert twin["state"] is StepState.DONE and type(twin["gate"]) is GateRecord
    at = datetime(2026, 11, 2, 9, 0)
    assert _clone([at, "x", 7])[0] is at  # immutable leaves are shared, not copied
