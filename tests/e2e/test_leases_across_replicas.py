"""Execution leases between two bot replicas on one real database (SQLite and PostgreSQL): recovery
leaves a live replica's soaking execution alone, and reconciles it once its replica is gone."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.engine.executor import ExecutionResult
from bot.engine.lease import DEFAULT_LEASE
from bot.engine.records import ExecutionState, StepState
from bot.store.repository import SqlStore
from tests.e2e.scenario import CHANNEL, approve_lane, finish, press_done
from tests.e2e.test_exactly_once import ENV, STEP, Replicas, replicas

__all__ = ["replicas"]  # the fixture: two bots on one database of each backend


async def reach_the_soak(replicas: Replicas) -> asyncio.Task[ExecutionResult]:
    fingerprint, runner = await approve_lane(replicas.a, STEP, ENV)
    started = await replicas.a.rollout.start_execution(CHANNEL, STEP, ENV, runner, fingerprint)
    task = started.task
    for _ in range(3000):
        if replicas.clock.sleepers:
            return task
        if task.done() and task.result().lane.state is StepState.WAITING:
            task = await press_done(replicas.a, task.result())  # the benchmark's Done, then on to the soak
            continue
        await asyncio.sleep(0.01)
    raise AssertionError("replica a never reached its soak")


async def soak_for(replicas: Replicas, store: SqlStore, execution_id: str, minutes: int) -> None:
    """Move time a minute at a time, letting each heartbeat land in the database before the next."""
    for _ in range(minutes):
        await replicas.clock.advance(timedelta(minutes=1))
        for _ in range(3000):
            execution = await store.get_execution(execution_id)
            assert execution is not None and execution.heartbeat_at is not None
            if replicas.clock.now() - execution.heartbeat_at <= DEFAULT_LEASE / 3:
                break
            await asyncio.sleep(0.01)


async def test_recovery_leaves_an_execution_soaking_on_a_live_replica_alone_twenty_minutes_in(
    replicas: Replicas,
) -> None:
    task = await reach_the_soak(replicas)
    [execution] = [e for e in await replicas.a.store.executions(replicas.run_id) if e.step_id == STEP]

    at_start = await replicas.b.rollout.recovery_pass()
    await soak_for(replicas, replicas.a.store, execution.id, 20)
    twenty_minutes_in = await replicas.b.rollout.recovery_pass()

    result = await finish(replicas.clock, task)
    assert at_start.recovered == [] and twenty_minutes_in.recovered == []
    assert [e.id for e in twenty_minutes_in.left_alone] == [execution.id]
    assert result.ok and result.lane.state is StepState.DONE, result.message
    stored = await replicas.b.store.get_execution(execution.id)
    assert stored is not None and stored.state is ExecutionState.SUCCEEDED


async def test_an_execution_whose_replica_died_is_reconciled_by_the_survivor_once_the_lease_runs_out(
    replicas: Replicas,
) -> None:
    task = await reach_the_soak(replicas)
    task.cancel()  # replica a dies mid-soak: no more heartbeats, its records stay as they are
    await asyncio.gather(task, return_exceptions=True)
    [execution] = [e for e in await replicas.a.store.executions(replicas.run_id) if e.step_id == STEP]

    too_soon = await replicas.b.rollout.recovery_pass()
    await replicas.clock.advance(DEFAULT_LEASE + timedelta(seconds=1))
    after_the_lease = await replicas.b.rollout.recovery_pass()

    assert too_soon.recovered == [] and [e.id for e in too_soon.left_alone] == [execution.id]
    assert [r.execution.id for r in after_the_lease.recovered] == [execution.id]
    stored = await replicas.b.store.get_execution(execution.id)
    assert stored is not None and stored.state is ExecutionState.INTERRUPTED
    assert stored.owner == replicas.b.rollout.owner
    lane = await replicas.b.store.get_lane(replicas.run_id, STEP, ENV)
    assert lane is not None and lane.state is StepState.FAILED
