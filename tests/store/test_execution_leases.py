"""Execution leases in the store: the owner's heartbeat and recovery's once-only take-over."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.engine.records import Execution, ExecutionState, Run, StepState
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.store.conftest import T0
from tests.store.records import a_lane, a_run, an_execution, claim

LEASE = timedelta(minutes=2)


async def claimed(
    store: SqlStore, owner: str = "host-a:41:abc123", heartbeat_offset: timedelta = timedelta()
) -> Execution:
    run: Run = await store.create_run(a_run())
    await store.put_lane(a_lane(run, StepState.APPROVED), expected=None)
    execution = replace(an_execution(run), owner=owner, heartbeat_at=T0 + heartbeat_offset)
    assert await claim(store, execution)
    return execution


async def test_the_claim_stores_the_owner_and_its_first_heartbeat(store: SqlStore) -> None:
    execution = await claimed(store)

    stored = await store.get_execution(execution.id)

    assert stored == execution
    assert stored is not None and (stored.owner, stored.heartbeat_at) == ("host-a:41:abc123", T0)


async def test_the_owner_renews_its_heartbeat_and_saving_the_state_keeps_it(store: SqlStore) -> None:
    execution = await claimed(store)

    renewed = await store.heartbeat(execution.id, "host-a:41:abc123", T0 + timedelta(seconds=40))
    await store.save_execution(replace(execution, state=ExecutionState.VERIFYING))

    stored = await store.get_execution(execution.id)
    assert renewed
    assert stored is not None and stored.state is ExecutionState.VERIFYING
    assert (stored.owner, stored.heartbeat_at) == ("host-a:41:abc123", T0 + timedelta(seconds=40))


async def test_a_heartbeat_from_anyone_but_the_owner_changes_nothing(store: SqlStore) -> None:
    execution = await claimed(store)

    assert not await store.heartbeat(execution.id, "host-b:7:def456", T0 + timedelta(minutes=1))
    assert not await store.heartbeat("no-such-execution", "host-a:41:abc123", T0 + timedelta(minutes=1))

    stored = await store.get_execution(execution.id)
    assert stored is not None and stored.heartbeat_at == T0


async def test_a_finished_execution_takes_no_heartbeat(store: SqlStore) -> None:
    execution = await claimed(store)
    await store.save_execution(replace(execution, state=ExecutionState.SUCCEEDED, finished_at=T0))

    assert not await store.heartbeat(execution.id, "host-a:41:abc123", T0 + timedelta(minutes=1))


async def test_recovery_takes_over_only_an_execution_whose_heartbeat_is_older_than_the_lease(
    store: SqlStore,
) -> None:
    execution = await claimed(store, heartbeat_offset=timedelta(minutes=5))
    at_minute = T0 + timedelta(minutes=6)

    while_fresh = await store.take_over(execution.id, "host-b:7:def456", at_minute - LEASE, at_minute)
    later = at_minute + LEASE
    once_stale = await store.take_over(execution.id, "host-b:7:def456", later - LEASE, later)

    assert (while_fresh, once_stale) == (False, True)
    stored = await store.get_execution(execution.id)
    assert stored is not None and (stored.owner, stored.heartbeat_at) == ("host-b:7:def456", later)
    assert not await store.heartbeat(execution.id, "host-a:41:abc123", later)  # the old owner must stop


async def test_an_execution_that_never_heartbeat_is_judged_by_when_it_started(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    await store.put_lane(a_lane(run, StepState.APPROVED), expected=None)
    execution = an_execution(run)  # from before leases: no owner, no heartbeat
    await claim(store, execution)

    early = T0 + timedelta(minutes=1)
    late = T0 + timedelta(minutes=3)
    assert not await store.take_over(execution.id, "host-b:7:def456", early - LEASE, early)
    assert await store.take_over(execution.id, "host-b:7:def456", late - LEASE, late)


async def test_a_finished_execution_is_never_taken_over(store: SqlStore) -> None:
    execution = await claimed(store)
    await store.save_execution(replace(execution, state=ExecutionState.FAILED, finished_at=T0))
    later = T0 + timedelta(hours=1)

    assert not await store.take_over(execution.id, "host-b:7:def456", later - LEASE, later)


async def test_of_five_replicas_taking_over_at_once_exactly_one_wins(store: SqlStore, database_url: str) -> None:
    execution = await claimed(store)
    later = T0 + timedelta(minutes=10)
    others = [SqlStore(create_engine_for(database_url), store.clock) for _ in range(4)]
    try:
        stores = [store, *others]
        results = await asyncio.gather(
            *(s.take_over(execution.id, f"replica-{n}", later - LEASE, later) for n, s in enumerate(stores))
        )
    finally:
        for other in others:
            await other.close()

    assert results.count(True) == 1
    stored = await store.get_execution(execution.id)
    assert stored is not None and stored.owner == f"replica-{results.index(True)}"


async def test_a_take_over_just_after_the_heartbeat_read_wins_only_while_that_heartbeat_is_unchanged(
    store: SqlStore,
) -> None:
    """How recovery settles an execution abandoned in an outage without waiting out the lease: a
    compare-and-set on the heartbeat it read, to the microsecond, so another replica's take-over wins."""
    execution = await claimed(store, heartbeat_offset=timedelta(microseconds=123_457))
    read = execution.heartbeat_at
    assert read is not None
    just_after = read + timedelta(microseconds=1)

    assert not await store.take_over(execution.id, "host-a:41:abc123", read, T0 + timedelta(seconds=1))
    assert await store.take_over(execution.id, "host-b:7:def456", just_after, T0 + timedelta(seconds=1))
    assert not await store.take_over(execution.id, "host-a:41:abc123", just_after, T0 + timedelta(seconds=2))

    stored = await store.get_execution(execution.id)
    assert stored is not None and stored.owner == "host-b:7:def456"
