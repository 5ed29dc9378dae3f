"""Issue 14: a store call written as one synchronous transaction (StoreBase._read/_write) keeps every
promise of the async transactions it replaced: inside a Slack delivery its first write takes the
delivery's row and a redelivery changes nothing; a read or bookkeeping takes no delivery; inside a
unit it commits and rolls back with the unit; a refused or unreachable store says StoreUnavailable.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.engine.deliveries import AlreadyHandled, handling
from bot.engine.errors import StoreUnavailable
from bot.engine.records import ChecklistTick, ExecutionState, StepState
from bot.engine.units import unit_of_work
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from bot.store.tables import DeliveryRow
from tests.store.conftest import T0
from tests.store.records import a_lane, a_run, an_execution, claim

UNREACHABLE = "postgresql+asyncpg://ion@127.0.0.1:1/ion"  # nothing listens on port 1


def a_tick(run_id: str, item_id: str = "team-trained", by: str = "U-sam") -> ChecklistTick:
    return ChecklistTick(run_id, "preflight", item_id, by, "sam", T0)


async def delivery_keys(store: SqlStore) -> list[str]:
    async with store.engine.connect() as connection:
        return list((await connection.scalars(select(DeliveryRow.key))).all())


async def test_a_write_inside_a_delivery_takes_its_row_and_a_redelivery_changes_nothing(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    with handling("trigger:T1", "U-sam") as first:
        await store.put_tick(a_tick(run.id))
        assert first is not None and first.owned
        await store.put_value("card:preflight", {"ticked": 1})  # owned now: no second claim

    with handling("trigger:T1", "U-sam"), pytest.raises(AlreadyHandled):
        await store.put_tick(a_tick(run.id, "oncall-ready"))
    assert [t.item_id for t in await store.ticks(run.id, "preflight")] == ["team-trained"]
    assert await store.get_value("card:preflight") == {"ticked": 1}
    assert await delivery_keys(store) == ["trigger:T1"]


async def test_reads_and_bookkeeping_inside_a_delivery_take_no_row(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    with handling("trigger:T2", "U-sam") as delivery:
        await store.get_gate(run.id, "preflight")
        await store.ticks(run.id, "preflight")
        await store.claim_post("standup", run.id, "2026-04-20")
        await store.enqueue_and_claim(run.channel, {"text": "hi"}, "post|1", "us", timedelta(seconds=30))
        assert delivery is not None and not delivery.owned
    assert await delivery_keys(store) == []


async def test_writes_inside_a_unit_commit_with_it_and_roll_back_with_it(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    with pytest.raises(RuntimeError):
        async with unit_of_work():
            await store.put_tick(a_tick(run.id))
            await store.put_value("card:preflight", {"ticked": 1})
            assert [t.item_id for t in await store.ticks(run.id, "preflight")] == ["team-trained"]  # seen inside
            raise RuntimeError("the use case is cut off")
    assert await store.ticks(run.id, "preflight") == [] and await store.get_value("card:preflight") is None

    async with unit_of_work():
        await store.put_tick(a_tick(run.id))
        await store.put_value("card:preflight", {"ticked": 1})
    assert [t.item_id for t in await store.ticks(run.id, "preflight")] == ["team-trained"]
    assert await store.get_value("card:preflight") == {"ticked": 1}


async def test_a_delivery_inside_a_unit_is_taken_once_the_unit_commits(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    with handling("trigger:T3", "U-sam") as delivery:
        async with unit_of_work():
            await store.put_tick(a_tick(run.id))
            assert delivery is not None and not delivery.owned
        assert delivery.owned
    assert await delivery_keys(store) == ["trigger:T3"]


async def test_a_refusing_store_refuses_reads_and_writes_alike(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    store.refusing = "the SQLite file was replaced"
    with pytest.raises(StoreUnavailable, match="replaced"):
        await store.get_run(run.id)
    with pytest.raises(StoreUnavailable, match="replaced"):
        await store.put_tick(a_tick(run.id))
    store.refusing = None
    assert await store.ticks(run.id, "preflight") == []


async def test_an_unreachable_database_is_unavailable_for_reads_and_writes() -> None:
    store = SqlStore(create_engine_for(UNREACHABLE))
    try:
        with pytest.raises(StoreUnavailable, match="cannot be reached"):
            await store.get_value("card:preflight")
        with pytest.raises(StoreUnavailable, match="cannot be reached"):
            await store.put_value("card:preflight", {"ticked": 1})
    finally:
        await store.close()


async def test_a_waiting_execution_resumes_once_and_only_for_what_it_waits_for(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    waiting = replace(an_execution(run), state=ExecutionState.WAITING, message="Done: drain the pool")
    silent = replace(an_execution(run, step_id="day2.2"), state=ExecutionState.WAITING)
    for execution in (waiting, silent):
        await store.put_lane(a_lane(run, StepState.APPROVED, execution.step_id), None)
        assert await claim(store, execution)

    assert not await store.resume_execution(waiting.id, "host-a", T0, "Done: something else")
    assert await store.resume_execution(waiting.id, "host-a", T0, "Done: drain the pool")
    assert not await store.resume_execution(waiting.id, "host-b", T0, "Done: drain the pool")
    assert not await store.resume_execution(silent.id, "host-a", T0, "Done: drain the pool")
    assert await store.resume_execution(silent.id, "host-a", T0, None)  # no message: waits for None
    resumed = await store.get_execution(waiting.id)
    assert resumed is not None and resumed.state == ExecutionState.RUNNING and resumed.owner == "host-a"
