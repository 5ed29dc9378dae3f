"""A database outage under a soaking step: the executor alive in this process resumes when the store
returns, and one that had to give up is settled by recovery at once, without waiting out the lease."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.engine.errors import StoreUnavailable
from bot.engine.lease import DEFAULT_LEASE
from bot.engine.records import ExecutionState, StepState
from tests.engine.harness import make
from tests.engine.test_leases import BEAT, start_soaking_step


async def test_an_execution_whose_beats_failed_longer_than_the_lease_is_left_alone_here_and_finishes() -> None:
    h = await make()
    started = await start_soaking_step(h)
    h.store.heartbeat_outage = True
    await h.clock.advance(DEFAULT_LEASE + BEAT)
    h.store.heartbeat_outage = False

    own = await h.rollout.recovery_pass()
    await h.clock.advance(BEAT)

    assert own.recovered == [] and [e.id for e in own.left_alone] == [started.execution.id]
    stored = h.store.execution_rows[started.execution.id]
    assert stored.heartbeat_at is not None and h.clock.now() - stored.heartbeat_at <= BEAT  # beating again
    await h.clock.advance(timedelta(minutes=30))
    result = await started.task
    assert result.ok and h.store.execution_rows[started.execution.id].state is ExecutionState.SUCCEEDED


async def test_an_executor_that_meets_the_outage_at_the_end_of_its_window_is_settled_by_recovery_at_once() -> None:
    h = await make()
    started = await start_soaking_step(h)
    await h.clock.advance(timedelta(minutes=29))
    h.store.heartbeat_outage = True
    await h.clock.advance(timedelta(minutes=2))  # the window ends; accepting the step needs the store
    with pytest.raises(StoreUnavailable):
        await started.task
    h.store.heartbeat_outage = False

    settled = await h.rollout.recovery_pass()  # the lease has not run out: no wait for it

    assert [r.execution.id for r in settled.recovered] == [started.execution.id]
    assert h.store.execution_rows[started.execution.id].state is ExecutionState.INTERRUPTED
    lane = h.store.lane_rows[(started.execution.run_id, "day3.1", "production")]
    assert lane.state is StepState.FAILED
    assert await h.store.unfinished_executions() == []


async def test_recovery_says_a_database_outage_stopped_the_execution_it_abandoned_not_a_restart() -> None:
    h = await make()
    started = await start_soaking_step(h)
    await h.clock.advance(timedelta(minutes=29))
    h.store.heartbeat_outage = True
    await h.clock.advance(timedelta(minutes=2))
    with pytest.raises(StoreUnavailable):
        await started.task
    h.store.heartbeat_outage = False

    settled = await h.rollout.recovery_pass()

    [recovered] = settled.recovered
    assert recovered.execution.message == "stopped by a database outage; 2 of 2 targets applied"
    assert recovered.message.startswith("day3.1 (production): stopped by a database outage;")
    assert "restart" not in recovered.message
    stored = h.store.execution_rows[started.execution.id]
    assert stored.message == recovered.execution.message
