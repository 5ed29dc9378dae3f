"""The execution claim (exactly one winner) and write-ahead target records."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.engine.records import ExecutionState, StepState, TargetStatus
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.store.conftest import T0
from tests.store.records import a_lane, a_run, a_target, an_execution, claim


async def test_fifty_concurrent_claims_give_exactly_one_winner(store: SqlStore, database_url: str) -> None:
    run = await store.create_run(a_run())
    await store.put_lane(a_lane(run, StepState.APPROVED), expected=None)
    # Five stores (five connection pools, like five replicas), ten clicks each.
    others = [SqlStore(create_engine_for(database_url), store.clock) for _ in range(4)]
    try:
        stores = [store, *others]
        attempts = [(stores[n % 5], an_execution(run, by=f"U-{n}")) for n in range(50)]
        results = await asyncio.gather(*(claim(s, execution) for s, execution in attempts))
    finally:
        for other in others:
            await other.close()

    assert results.count(True) == 1
    winner = attempts[results.index(True)][1]
    assert await store.executions(run.id) == [winner]
    lane = await store.get_lane(run.id, "day2.1", "production")
    assert lane is not None
    assert (lane.state, lane.last_execution_id, lane.changed_by) == (
        StepState.RUNNING,
        winner.id,
        winner.requested_by,
    )
    assert await store.lane_history(run.id, "day2.1", "production") == [
        (None, "approved"),
        ("approved", "running"),
    ]


async def test_a_claim_from_the_wrong_state_changes_nothing(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    lane = a_lane(run, StepState.READY)
    await store.put_lane(lane, expected=None)
    execution = an_execution(run)

    assert not await claim(store, execution)
    assert await store.get_execution(execution.id) is None
    assert await store.get_lane(run.id, "day2.1", "production") == lane


async def test_a_claim_on_a_lane_that_does_not_exist_loses(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    assert not await claim(store, an_execution(run))


async def test_an_execution_round_trips_and_leaves_the_unfinished_list_when_saved_finished(
    store: SqlStore,
) -> None:
    run = await store.create_run(a_run())
    await store.put_lane(a_lane(run, StepState.APPROVED), expected=None)
    execution = replace(an_execution(run), dry_run=True, reverts="exec-0")
    assert await claim(store, execution)
    assert await store.get_execution(execution.id) == execution
    assert await store.unfinished_executions() == [execution]

    done = replace(execution, state=ExecutionState.SUCCEEDED, finished_at=T0 + timedelta(minutes=3), message="all good")
    await store.save_execution(done)
    assert await store.get_execution(execution.id) == done
    assert await store.unfinished_executions() == []


async def test_executions_of_a_run_are_listed_oldest_first(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    later = an_execution(run, step_id="day2.2", at=T0 + timedelta(hours=1))
    earlier = an_execution(run, step_id="day2.1", at=T0)
    for execution in (later, earlier):
        await store.put_lane(a_lane(run, StepState.APPROVED, step_id=execution.step_id), expected=None)
        assert await claim(store, execution)
    assert await store.executions(run.id) == [earlier, later]


async def test_a_write_ahead_snapshot_is_stored_then_updated_in_place(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    await store.put_lane(a_lane(run, StepState.APPROVED), expected=None)
    execution = an_execution(run)
    await claim(store, execution)
    second = a_target(execution, seq=2, action_index=0, key="europe-west1")
    first = a_target(execution, seq=1, action_index=0, key="us-central1")
    nested = replace(
        a_target(execution, seq=3, action_index=1, key="db"),
        snapshot={"tier": "db-custom-8-16384", "flags": [{"name": "x", "on": True}], "size": None},
        mutating=False,
    )
    for record in (second, first, nested):
        await store.save_target(record)
    applied = replace(first, status=TargetStatus.APPLIED, message="minInstances is 2", at=T0 + timedelta(minutes=1))
    await store.save_target(applied)

    assert await store.targets(execution.id) == [applied, second, nested]


async def test_a_snapshot_of_none_is_kept_as_none(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    await store.put_lane(a_lane(run, StepState.APPROVED), expected=None)
    execution = an_execution(run)
    await claim(store, execution)
    record = replace(a_target(execution, seq=1), snapshot=None, changes=[])
    await store.save_target(record)
    assert await store.targets(execution.id) == [record]


async def test_a_saved_snapshot_is_visible_to_another_process_as_soon_as_save_returns(
    store: SqlStore, database_url: str
) -> None:
    run = await store.create_run(a_run())
    await store.put_lane(a_lane(run, StepState.APPROVED), expected=None)
    execution = an_execution(run)
    await claim(store, execution)
    record = a_target(execution, seq=1)
    await store.save_target(record)

    elsewhere = SqlStore(create_engine_for(database_url))
    try:
        assert await elsewhere.targets(execution.id) == [record]
        assert await elsewhere.unfinished_executions() == [execution]
    finally:
        await elsewhere.close()
