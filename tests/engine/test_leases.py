"""Execution leases: recovery reconciles only executions whose owner stopped heartbeating, and an
owner whose execution was taken over stops changing things."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from bot.engine.clock import VirtualClock
from bot.engine.lease import DEFAULT_LEASE
from bot.engine.records import ExecutionState, StepState
from bot.engine.rollout import StartedExecution
from tests.engine.fakes import SimulatedCrash
from tests.engine.harness import CHANNEL, Harness, lee, lou, make, maria, sam

BEAT = DEFAULT_LEASE / 3


async def start_soaking_step(h: Harness) -> StartedExecution:
    """day3.1 in production: one target, then a 30-minute soak; returns once it is soaking."""
    await h.rollout.gate_check_health(CHANNEL, "gonogo.day3", maria)
    await h.rollout.gate_tick(CHANNEL, "gonogo.day3", "oncall", sam)
    await h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, maria)
    plan = await h.rollout.request_run(CHANNEL, "day3.1", "production", sam)
    await h.rollout.approve(CHANNEL, "day3.1", "production", lou)
    started = await h.rollout.start_execution(CHANNEL, "day3.1", "production", sam, plan.fingerprint)
    for _ in range(100):
        if h.clock.sleepers:
            return started
        await asyncio.sleep(0)
    raise AssertionError("day3.1 never reached its soak")


async def lose_the_database_for_longer_than_the_lease(h: Harness) -> None:
    """The owner's heartbeats fail (its database link is down) while the lease runs out."""
    h.store.heartbeat_outage = True
    await h.clock.advance(DEFAULT_LEASE + BEAT)
    h.store.heartbeat_outage = False


class TestRecoveryLeavesLiveExecutionsAlone:
    async def test_an_execution_soaking_on_a_live_replica_is_left_alone_and_finishes(self) -> None:
        h = await make()
        started = await start_soaking_step(h)
        replica_b = h.again()

        at_start = await replica_b.recovery_pass()
        await h.clock.advance(timedelta(minutes=20))
        twenty_minutes_in = await replica_b.recovery_pass()

        assert at_start.recovered == [] and twenty_minutes_in.recovered == []
        assert [e.id for e in twenty_minutes_in.left_alone] == [started.execution.id]
        stored = h.store.execution_rows[started.execution.id]
        assert stored.heartbeat_at is not None and h.clock.now() - stored.heartbeat_at <= BEAT
        await h.clock.advance(timedelta(minutes=10))
        result = await started.task
        assert result.ok and result.lane.state is StepState.DONE
        assert h.store.execution_rows[started.execution.id].state is ExecutionState.SUCCEEDED

    async def test_a_dead_owners_execution_waits_out_the_lease_then_is_reconciled(self) -> None:
        h = await make()
        h.world.crash_before_write.add("api/europe-west1")
        with contextlib.suppress(SimulatedCrash):
            await h.run_step("day2.1", "production")
        replica_b = h.again()

        await h.clock.advance(timedelta(minutes=1))
        within_the_lease = await replica_b.recovery_pass()
        await h.clock.advance(DEFAULT_LEASE)
        after_the_lease = await replica_b.recovery_pass()

        assert within_the_lease.recovered == [] and len(within_the_lease.left_alone) == 1
        assert [r.applied for r in after_the_lease.recovered] == [1] and after_the_lease.left_alone == []
        execution = after_the_lease.recovered[0].execution
        assert execution.state is ExecutionState.INTERRUPTED and execution.owner == replica_b.owner
        assert h.world.applied == ["production/api/us-central1"]

    async def test_two_replicas_recovering_at_once_reconcile_a_dead_execution_once(self) -> None:
        h = await make()
        h.world.crash_before_write.add("api/europe-west1")
        with contextlib.suppress(SimulatedCrash):
            await h.run_step("day2.1", "production")
        await h.clock.advance(DEFAULT_LEASE + BEAT)

        passes = await asyncio.gather(h.again().recovery_pass(), h.again().recovery_pass())

        assert sorted(len(p.recovered) for p in passes) == [0, 1]
        assert [e.what for e in h.store.audit_rows].count("recovered") == 1


class TestTheHeartbeat:
    async def test_the_owner_renews_its_lease_through_a_long_soak_and_stops_when_it_ends(self) -> None:
        h = await make()
        started = await start_soaking_step(h)
        await h.clock.advance(timedelta(minutes=30))
        result = await started.task
        beats_while_running = len(h.store.heartbeats)

        await h.clock.advance(DEFAULT_LEASE * 5)

        assert result.ok
        assert beats_while_running >= timedelta(minutes=30) / BEAT  # renewed every third of the lease
        assert len(h.store.heartbeats) == beats_while_running  # nothing renews a finished execution
        assert h.clock.sleepers == 0

    async def test_owner_and_heartbeat_are_written_with_the_claim(self) -> None:
        h = await make()
        claimed_at = h.clock.now()
        await h.run_step("day2.1", "production")
        [execution] = h.store.execution_rows.values()
        assert execution.owner == h.rollout.owner
        assert execution.heartbeat_at is not None and execution.heartbeat_at >= claimed_at

    async def test_each_rollout_has_its_own_owner_id(self) -> None:
        h = await make()
        assert len({h.rollout.owner, h.again().owner, h.again().owner}) == 3


class TestAnOwnerThatWasTakenOver:
    async def test_it_stops_before_the_next_target_and_claims_nothing(self) -> None:
        h = await make()
        replica_b = h.again()
        reconciled = []

        async def stall_while_replica_b_recovers() -> None:
            await lose_the_database_for_longer_than_the_lease(h)
            reconciled.extend(await replica_b.recover())

        h.world.while_applying["api/us-central1"] = stall_while_replica_b_recovers
        result = await h.run_step("day2.1", "production")

        assert [r.applied for r in reconciled] == [1]
        assert h.world.applied == ["production/api/us-central1"]  # europe-west1 was never touched
        assert not result.ok
        assert result.message.startswith("day2.1 (production) stopped before api europe-west1 (production): ")
        assert "Applied before stopping: api us-central1 (production)." in result.message
        execution = h.store.execution_rows[result.execution.id]
        assert execution.state is ExecutionState.INTERRUPTED  # as replica b left it, not overwritten
        assert result.lane.state is StepState.FAILED
        finished = [e for e in h.notifier.events if e.kind == "execution_finished"]
        assert [e.data["ok"] for e in finished] == [False]
        assert "lease lost" in [e.what for e in h.store.audit_rows]

    async def test_a_soak_that_was_taken_over_ends_without_claiming_success_or_reverting(self) -> None:
        h = await make()
        started = await start_soaking_step(h)
        await lose_the_database_for_longer_than_the_lease(h)
        [reconciled] = await h.again().recover()

        await h.clock.advance(timedelta(minutes=30))
        result = await started.task

        assert reconciled.execution.id == started.execution.id
        assert not result.ok and "stopped before finishing verification" in result.message
        assert h.store.execution_rows[started.execution.id].state is ExecutionState.INTERRUPTED
        assert result.lane.state is StepState.FAILED
        assert h.world.reverted == []  # the revert is a person's decision now

    async def test_a_rollback_that_was_taken_over_stops_before_the_next_target(self) -> None:
        h = await make()
        await h.run_step("day2.1", "production")
        replica_b = h.again()

        async def stall_while_replica_b_recovers() -> None:
            await lose_the_database_for_longer_than_the_lease(h)
            await replica_b.recover()

        h.world.while_reverting["api/europe-west1"] = stall_while_replica_b_recovers  # reverted first
        result = await h.rollout.confirm_rollback(CHANNEL, "day2.1", lee)

        assert not result.ok
        assert result.message.startswith("Rollback of day2.1 (production) stopped before api us-central1")
        assert h.world.reverted == ["production/api/europe-west1"]
        assert result.execution is not None and result.execution.state is ExecutionState.INTERRUPTED


class TestVirtualClockTimers:
    async def test_timers_fire_in_deadline_order_without_counting_as_sleepers(self) -> None:
        clock = VirtualClock(datetime(2026, 10, 29, tzinfo=UTC))
        fired: list[str] = []
        clock.call_later(120, lambda: fired.append(f"late@{clock.now():%H:%M}"))
        clock.call_later(60, lambda: fired.append(f"early@{clock.now():%H:%M}"))
        clock.call_later(90, lambda: fired.append("cancelled")).cancel()

        assert clock.sleepers == 0
        await clock.advance(timedelta(minutes=5))

        assert fired == ["early@00:01", "late@00:02"]
