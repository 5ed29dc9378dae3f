"""A rollback restores exactly what was there before, at any time: during a step's soak (the lane
still ``running``) or its verification window, from on-call or an alert, and after a step failed
and ran again. The executor it takes the lane from stops and writes nothing more."""

from __future__ import annotations

import asyncio
import copy
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from bot.actions.base import Binding
from bot.actions.wait import WaitAction
from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.ports import BOT_ACTOR, Action
from bot.engine.records import ExecutionState, StepState, TargetStatus
from bot.engine.rollout import Rollout, StartedExecution
from bot.runbook.models import Environment, Runbook
from tests.engine.fakes import FakeActions, World
from tests.engine.harness import CHANNEL, POLICY, RUNBOOK, Harness, lee, lou, make, maria, sam

ENV = "production"
DEFAULTS = {"min_instances": 3, "max_instances": 100}  # the fake world's state before any change
REGIONS = ("us-central1", "europe-west1")


def soaking_runbook() -> Runbook:
    """The engine tests' runbook plus day2.5: scale both regions, soak 2 h, then cap (day9.1's shape)."""
    data: dict[str, Any] = copy.deepcopy(RUNBOOK)
    data["days"][1]["steps"].append(
        {
            "id": "day2.5",
            "title": "Move, soak, move again",
            "actions": [
                {"kind": "cloud_run.scale", "service": "api", "min_instances": 1},
                {"kind": "wait", "duration": "2h", "reason": "soak with traffic moved"},
                {"kind": "cloud_run.scale", "service": "api", "max_instances": 50},
            ],
        }
    )
    return Runbook.model_validate(data)


class ActionsWithWaits(FakeActions):
    """The fake world's kinds plus the real ``wait`` kind on the test's virtual clock."""

    def __init__(self, world: World, clock: VirtualClock) -> None:
        super().__init__(world)
        self.deps: Any = SimpleNamespace(clock=clock)  # a wait needs only the clock

    def build(self, spec: Any, runbook: Runbook, environment: Environment) -> Action:
        if spec.kind == "wait":
            return WaitAction(spec, Binding(runbook, environment), self.deps)
        return super().build(spec, runbook, environment)


async def soaking() -> Harness:
    h = await make()
    h.rollout = Rollout(
        soaking_runbook(), h.store, ActionsWithWaits(h.world, h.clock), h.checker, h.notifier, h.clock, POLICY
    )
    return h


async def start_and_reach_the_soak(h: Harness) -> StartedExecution:
    plan = await h.rollout.request_run(CHANNEL, "day2.5", ENV, sam)
    await h.rollout.approve(CHANNEL, "day2.5", ENV, lee)
    started = await h.rollout.start_execution(CHANNEL, "day2.5", ENV, sam, plan.fingerprint)
    for _ in range(100):
        if h.clock.sleepers:
            return started
        await asyncio.sleep(0)
    raise AssertionError("day2.5 never reached its soak")


def live(h: Harness) -> dict[str, dict[str, int]]:
    return {region: dict(h.world.state(f"{ENV}/api/{region}")) for region in REGIONS}


class TestRollingBackDuringAWait:
    async def test_the_live_state_equals_the_snapshots_and_the_executor_stops_without_writing_done(self) -> None:
        h = await soaking()
        started = await start_and_reach_the_soak(h)
        await h.clock.advance(timedelta(minutes=20))
        run = await h.rollout.require_run(CHANNEL)
        assert (await h.rollout._ctx.lanes.get(run.id, "day2.5", ENV)).state is StepState.RUNNING

        result = await h.rollout.confirm_rollback(CHANNEL, "day2.5", sam)
        stopped = await started.task

        assert result.ok and result.lane.state is StepState.ROLLED_BACK
        assert live(h) == {region: DEFAULTS for region in REGIONS}
        assert [r.target_label for r in result.reverted] == [
            "api europe-west1 (production)",
            "api us-central1 (production)",
        ]
        assert not stopped.ok and "a rollback took the lane over" in stopped.message
        assert h.store.execution_rows[started.execution.id].state is ExecutionState.INTERRUPTED
        wait_record = next(r for r in h.store.target_rows.values() if r.target_label.startswith("wait"))
        assert wait_record.status is TargetStatus.INTERRUPTED
        assert h.clock.sleepers == 0  # the soak ended with the rollback, not two hours later
        await h.clock.advance(timedelta(hours=3))
        assert h.world.applied == [f"{ENV}/api/us-central1", f"{ENV}/api/europe-west1"]  # the cap never ran

    async def test_the_audit_shows_the_claim_the_stop_and_the_end_and_no_done(self) -> None:
        h = await soaking()
        await start_and_reach_the_soak(h)
        await h.rollout.confirm_rollback(CHANNEL, "day2.5", sam)

        lane_moves = [
            (e.actor_id, e.before, e.after)
            for e in h.store.audit_rows
            if e.what == "step state" and (e.step_id, e.environment) == ("day2.5", ENV)
        ]
        assert lane_moves[-2:] == [("U_SRE", "running", "rolling_back"), ("U_SRE", "rolling_back", "rolled_back")]
        assert not any(after in ("verifying", "done") for _, _, after in lane_moves)
        whats = [e.what for e in h.store.audit_rows]
        assert whats.count("execution stopped") == 1 and whats.count("stopped for rollback") == 1

    async def test_an_auto_rollback_from_an_alert_during_the_wait_restores_everything(self) -> None:
        h = await soaking()
        started = await start_and_reach_the_soak(h)
        await h.clock.advance(timedelta(minutes=45))

        result = await h.rollout.confirm_rollback(CHANNEL, "last", BOT_ACTOR)  # what bootstrap's auto_rollback calls

        assert result.ok and result.lane.state is StepState.ROLLED_BACK
        assert live(h) == {region: DEFAULTS for region in REGIONS}
        assert not (await started.task).ok

    async def test_two_concurrent_rollbacks_of_a_running_lane_revert_once(self) -> None:
        h = await soaking()
        started = await start_and_reach_the_soak(h)

        outcomes = await asyncio.gather(
            h.rollout.confirm_rollback(CHANNEL, "day2.5", sam),
            h.rollout.confirm_rollback(CHANNEL, "day2.5", lee),
            return_exceptions=True,
        )

        await started.task
        reverted = [o for o in outcomes if not isinstance(o, BaseException) and o.reverted]
        others = [o for o in outcomes if o not in reverted]
        assert len(reverted) == 1 and len(others) == 1
        assert isinstance(others[0], Refused) or "already rolled back" in others[0].message
        assert sorted(h.world.reverted) == [f"{ENV}/api/europe-west1", f"{ENV}/api/us-central1"]
        assert live(h) == {region: DEFAULTS for region in REGIONS}
        assert sum(1 for e in h.store.execution_rows.values() if e.kind == "rollback") == 1

    async def test_a_target_in_flight_at_the_claim_is_waited_for_then_reverted(self) -> None:
        h = await soaking()
        rollbacks: list[asyncio.Task[Any]] = []

        async def roll_back_while_europe_lands() -> None:
            rollbacks.append(asyncio.create_task(h.rollout.confirm_rollback(CHANNEL, "day2.5", sam)))
            for _ in range(20):
                await asyncio.sleep(0)  # the rollback claims the lane and waits for this update

        h.world.while_applying["api/europe-west1"] = roll_back_while_europe_lands
        plan = await h.rollout.request_run(CHANNEL, "day2.5", ENV, sam)
        await h.rollout.approve(CHANNEL, "day2.5", ENV, lee)
        stopped = await h.rollout.confirm_run(CHANNEL, "day2.5", ENV, sam, plan.fingerprint)
        result = await rollbacks[0]

        assert not stopped.ok and "stopped before" in stopped.message
        assert result.ok and len(result.reverted) == 2
        assert live(h) == {region: DEFAULTS for region in REGIONS}
        europe = next(
            r
            for r in h.store.target_rows.values()
            if r.execution_id == stopped.execution.id and r.target_key == "api/europe-west1"
        )
        assert europe.status is TargetStatus.REVERTED  # recorded applied by its executor, then reverted
        assert h.store.execution_rows[stopped.execution.id].state is ExecutionState.INTERRUPTED


class TestRollingBackDuringVerification:
    async def test_the_window_ends_at_once_and_the_snapshot_is_restored(self) -> None:
        h = await make()
        await h.rollout.gate_check_health(CHANNEL, "gonogo.day3", maria)
        await h.rollout.gate_tick(CHANNEL, "gonogo.day3", "oncall", sam)
        await h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, maria)
        plan = await h.rollout.request_run(CHANNEL, "day3.1", ENV, sam)
        await h.rollout.approve(CHANNEL, "day3.1", ENV, lou)
        started = await h.rollout.start_execution(CHANNEL, "day3.1", ENV, sam, plan.fingerprint)
        await h.clock.advance(timedelta(minutes=10))

        result = await h.rollout.confirm_rollback(CHANNEL, "day3.1", sam)
        stopped = await started.task

        assert result.ok and result.lane.state is StepState.ROLLED_BACK
        assert live(h) == {region: DEFAULTS for region in REGIONS}
        assert not stopped.ok and "stopped before finishing verification" in stopped.message
        assert h.clock.sleepers == 0


class TestRollingBackAfterFailedThenRunAgain:
    async def test_targets_applied_by_the_failed_run_are_restored_too(self) -> None:
        h = await make()
        h.world.fail_apply.add("api/europe-west1")
        failed = await h.run_step("day2.1", ENV)
        assert not failed.ok and live(h)["us-central1"]["min_instances"] == 1
        h.world.fail_apply.clear()  # the quota was raised
        rerun = await h.run_step("day2.1", ENV, runner=lee, approver=sam)
        assert rerun.ok and rerun.lane.state is StepState.DONE

        preview = await h.rollout.rollback_preview(CHANNEL, "day2.1", sam)
        result = await h.rollout.confirm_rollback(CHANNEL, "day2.1", sam)

        assert [str(c) for c in preview.changes] == [
            "api europe-west1 (production): min_instances 1 -> 3",
            "api us-central1 (production): min_instances 1 -> 3",  # applied by the failed run
        ]
        assert preview.runs == 2 and "the changes of 2 runs" in preview.lines[-1]
        assert result.ok and result.lane.state is StepState.ROLLED_BACK
        assert live(h) == {region: DEFAULTS for region in REGIONS}

    async def test_a_second_rollback_after_a_completed_one_restores_only_the_new_run(self) -> None:
        h = await make()
        await h.run_step("day2.1", ENV)
        await h.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        await h.clock.advance(timedelta(minutes=5))
        h.world.state(f"{ENV}/api/us-central1")["min_instances"] = 2  # someone scaled it by hand since
        await h.run_step("day2.1", ENV, runner=lee, approver=sam)

        preview = await h.rollout.rollback_preview(CHANNEL, "day2.1", sam)
        result = await h.rollout.confirm_rollback(CHANNEL, "day2.1", sam)

        assert preview.runs == 1
        assert result.ok
        assert live(h)["us-central1"]["min_instances"] == 2 and live(h)["europe-west1"]["min_instances"] == 3


class TestRollingBackFromAnotherReplica:
    """The rollback runs on replica B while replica A's executor soaks the step: B cannot revoke A's
    lease in memory (another process), so A learns of it at its next heartbeat and must stop there."""

    async def test_the_other_replicas_executor_stops_at_its_next_beat_and_the_cap_never_runs(self) -> None:
        h = await soaking()
        started = await start_and_reach_the_soak(h)
        await h.clock.advance(timedelta(minutes=20))
        replica_b = Rollout(
            soaking_runbook(), h.store, ActionsWithWaits(h.world, h.clock), h.checker, h.notifier, h.clock, POLICY
        )
        assert replica_b.owner != h.rollout.owner
        assert replica_b._ctx.leases.held(started.execution.id) is None  # A's lease is kept by A alone
        assert h.rollout._ctx.leases.held(started.execution.id) is not None

        result = await replica_b.confirm_rollback(CHANNEL, "day2.5", sam)

        assert result.ok and result.lane.state is StepState.ROLLED_BACK
        assert live(h) == {region: DEFAULTS for region in REGIONS}
        assert not started.task.done()  # A still sleeps in its soak: nothing told it in memory
        await h.clock.advance(h.rollout.lease)  # A's next heartbeat is refused: the lease moved
        stopped = await started.task
        assert not stopped.ok
        await h.clock.advance(timedelta(hours=3))
        assert h.world.applied == [f"{ENV}/api/us-central1", f"{ENV}/api/europe-west1"]  # the cap never ran
        assert live(h) == {region: DEFAULTS for region in REGIONS}
        run = await replica_b.require_run(CHANNEL)
        assert (await replica_b._ctx.lanes.get(run.id, "day2.5", ENV)).state is StepState.ROLLED_BACK
        assert h.store.execution_rows[started.execution.id].state is ExecutionState.INTERRUPTED
