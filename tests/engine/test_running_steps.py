import asyncio
from datetime import timedelta

import pytest

from bot.engine.errors import Refused
from bot.engine.records import ExecutionState, RunState, StepState
from tests.engine.harness import CHANNEL, dana, lee, lou, make, maria, sam


class TestApprovals:
    async def test_refuses_self_approval_of_production_step(self) -> None:
        h = await make()
        await h.rollout.request_run(CHANNEL, "day2.1", "production", lee)
        with pytest.raises(Refused, match="four eyes"):
            await h.rollout.approve(CHANNEL, "day2.1", "production", lee)
        view = await h.rollout.step_view(CHANNEL, "day2.1")
        assert view.lanes[0].lane.state is StepState.READY
        assert view.lanes[0].approvals == []

    async def test_an_approval_given_before_the_request_does_not_count_for_its_giver(self) -> None:
        h = await make()
        await h.rollout.approve(CHANNEL, "day2.1", "production", lee)
        plan = await h.rollout.request_run(CHANNEL, "day2.1", "production", lee)
        with pytest.raises(Refused, match="not approved yet: it still needs 1 x an approver"):
            await h.rollout.confirm_run(CHANNEL, "day2.1", "production", lee, plan.fingerprint)
        assert h.world.applied == []

    async def test_approvals_need_the_role_the_step_names(self) -> None:
        h = await make()
        await h.rollout.request_run(CHANNEL, "day1.1", "staging", sam)
        with pytest.raises(Refused, match="needs 1 x lead; maria has none"):
            await h.rollout.approve(CHANNEL, "day1.1", "staging", maria)
        status = await h.rollout.approve(CHANNEL, "day1.1", "staging", lee)
        assert status.satisfied

    async def test_a_rejection_needs_a_reason_and_blocks_the_run(self) -> None:
        h = await make()
        plan = await h.rollout.request_run(CHANNEL, "day2.1", "production", sam)
        with pytest.raises(Refused, match="needs a reason"):
            await h.rollout.reject(CHANNEL, "day2.1", "production", lee, " ")
        status = await h.rollout.reject(CHANNEL, "day2.1", "production", lee, "wait for the traffic dip")
        assert not status.satisfied and "wait for the traffic dip" in status.summary()
        with pytest.raises(Refused, match="not approved yet"):
            await h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, plan.fingerprint)

    async def test_plan_change_withdraws_approvals(self) -> None:
        h = await make()
        plan = await h.rollout.request_run(CHANNEL, "day2.1", "production", sam)
        await h.rollout.approve(CHANNEL, "day2.1", "production", lee)
        h.world.state("production/api/us-central1")["min_instances"] = 5  # someone changed it by hand
        with pytest.raises(Refused, match="review it again"):
            await h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, plan.fingerprint)
        view = await h.rollout.step_view(CHANNEL, "day2.1")
        assert view.lanes[0].lane.state is StepState.READY
        assert view.lanes[0].approvals == []
        withdrawn = [e for e in h.store.audit_rows if e.what == "approval withdrawn"]
        assert len(withdrawn) == 1 and "plan changed" in (withdrawn[0].detail or "")
        assert h.world.applied == []


class TestOrder:
    async def test_production_refused_until_staging_done(self) -> None:
        h = await make()
        with pytest.raises(Refused, match="until its staging run is done"):
            await h.rollout.request_run(CHANNEL, "day1.1", "production", sam)
        staging = await h.run_step("day1.1", "staging")
        assert staging.ok and staging.lane.state is StepState.DONE  # checklist gates production only
        plan = await h.rollout.request_run(CHANNEL, "day1.1", "production", sam)
        assert plan.production and str(plan.changes[0]).endswith("minInstances 3 -> 2")

    async def test_step_refused_before_gonogo_yes(self) -> None:
        h = await make()
        with pytest.raises(Refused, match=r"day3\.1 cannot run before gonogo\.day3 is decided YES"):
            await h.rollout.request_run(CHANNEL, "day3.1", "production", sam)
        with pytest.raises(Refused, match="cannot be decided YES yet"):
            await h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, maria)
        await h.rollout.gate_check_health(CHANNEL, "gonogo.day3", maria)
        await h.rollout.gate_tick(CHANNEL, "gonogo.day3", "oncall", sam)
        view = await h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, maria)
        assert view.record.decision == "yes" and view.record.decided_by_name == "maria"
        plan = await h.rollout.request_run(CHANNEL, "day3.1", "production", sam)
        assert plan.changes

    async def test_step_refused_before_its_dependency_is_done(self) -> None:
        h = await make()
        with pytest.raises(Refused, match=r"depends on day2\.1, which is not done in production"):
            await h.rollout.request_run(CHANNEL, "day2.2", "production", sam)

    async def test_a_held_run_refuses_to_run_steps(self) -> None:
        h = await make()
        await h.rollout.hold(CHANNEL, sam, "incident in europe")
        with pytest.raises(Refused, match=r"The run is held \(incident in europe\); resume it first"):
            await h.rollout.request_run(CHANNEL, "day2.1", "production", sam)
        await h.rollout.resume(CHANNEL, sam)
        assert (await h.rollout.request_run(CHANNEL, "day2.1", "production", sam)).changes


class TestExactlyOnce:
    async def test_fifty_concurrent_confirmations_start_one_execution(self) -> None:
        h = await make()
        plan = await h.rollout.request_run(CHANNEL, "day2.1", "production", sam)
        await h.rollout.approve(CHANNEL, "day2.1", "production", lee)
        attempts = [h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, plan.fingerprint) for _ in range(50)]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        wins = [r for r in results if not isinstance(r, BaseException)]
        refusals = [r for r in results if isinstance(r, Refused)]
        assert len(wins) == 1 and len(refusals) == 49
        assert len(h.store.execution_rows) == 1
        assert sorted(h.world.applied) == ["production/api/europe-west1", "production/api/us-central1"]
        assert all("running" in r.message or "already done" in r.message for r in refusals)

    async def test_a_running_lane_refuses_with_since_when(self) -> None:
        h = await make()
        await h.rollout.gate_check_health(CHANNEL, "gonogo.day3", maria)
        await h.rollout.gate_tick(CHANNEL, "gonogo.day3", "oncall", sam)
        await h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, maria)
        plan = await h.rollout.request_run(CHANNEL, "day3.1", "production", sam)
        await h.rollout.approve(CHANNEL, "day3.1", "production", lou)
        started = await h.rollout.start_execution(CHANNEL, "day3.1", "production", sam, plan.fingerprint)
        await h.clock.advance(timedelta(seconds=1))
        with pytest.raises(Refused, match=r"day3\.1 \(production\) has been verifying since 09:00"):
            await h.rollout.confirm_run(CHANNEL, "day3.1", "production", sam, plan.fingerprint)
        await h.clock.advance(timedelta(minutes=30))
        result = await started.task
        assert result.ok and result.lane.state is StepState.DONE


class TestVerification:
    async def test_a_breach_during_the_soak_fails_the_step_and_offers_the_exact_revert(self) -> None:
        h = await make()
        await h.rollout.gate_check_health(CHANNEL, "gonogo.day3", maria)
        await h.rollout.gate_tick(CHANNEL, "gonogo.day3", "oncall", sam)
        await h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, maria)
        plan = await h.rollout.request_run(CHANNEL, "day3.1", "production", sam)
        await h.rollout.approve(CHANNEL, "day3.1", "production", lou)
        started = await h.rollout.start_execution(CHANNEL, "day3.1", "production", sam, plan.fingerprint)
        await h.clock.advance(timedelta(minutes=10))
        h.checker.values["error_rate_pct"] = 2.5
        await h.clock.advance(timedelta(minutes=20))
        result = await started.task
        assert not result.ok and result.lane.state is StepState.FAILED
        assert "'error_rate_pct < 1' does not hold" in result.message
        assert "api us-central1 (production): max_instances 60 -> 100" in result.message
        assert result.execution.state is ExecutionState.FAILED

    async def test_the_checklist_accepts_the_last_environment(self) -> None:
        h = await make()
        await h.run_step("day1.1", "staging")
        result = await h.run_step("day1.1", "production", approver=lou)
        assert result.ok and result.lane.state is StepState.VERIFYING
        assert "tick or waive" in result.message
        with pytest.raises(Refused, match="lead"):
            await h.rollout.waive(CHANNEL, "day1.1", None, "checked by hand", dana)
        await h.rollout.tick(CHANNEL, "day1.1", "latency", dana)
        view = await h.rollout.step_view(CHANNEL, "day1.1")
        assert [lane.lane.state for lane in view.lanes] == [StepState.DONE, StepState.DONE]
        assert view.checklist.ticks["latency"].name == "dana"


class TestFailure:
    async def test_failure_midway_lists_applied_targets_and_reverts_exactly(self) -> None:
        h = await make()
        h.world.fail_apply.add("api/europe-west1")
        result = await h.run_step("day2.1", "production")
        assert not result.ok and result.lane.state is StepState.FAILED
        assert "Cloud Run refused the update of api europe-west1 (production): quota exceeded." in result.message
        assert [r.target_label for r in result.applied] == ["api us-central1 (production)"]
        assert result.revert_lines == [
            "api us-central1 (production): min_instances 1 -> 3",
            "api europe-west1 (production): unchanged, nothing to restore",
        ]
        preview = await h.rollout.rollback_preview(CHANNEL, "day2.1", sam)
        assert preview.lines == result.revert_lines
        undone = await h.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        assert undone.ok and undone.lane.state is StepState.ROLLED_BACK
        assert h.world.services["production/api/us-central1"] == {"min_instances": 3, "max_instances": 100}
        assert h.world.reverted == ["production/api/us-central1"]

    async def test_auto_revert_on_failure_restores_what_was_applied(self) -> None:
        h = await make()
        h.world.fail_apply.add("api/europe-west1")
        result = await h.run_step("day2.3", "production")
        assert not result.ok and result.lane.state is StepState.ROLLED_BACK
        assert "Reverted automatically" in result.message
        assert h.world.services["production/api/us-central1"]["max_instances"] == 100

    async def test_a_failure_before_anything_changed_says_nothing_was_changed(self) -> None:
        h = await make()
        h.world.fail_apply.add("api/us-central1")
        result = await h.run_step("day2.1", "production")
        assert result.message.endswith("Nothing was changed.") and result.applied == []


class TestActionsThatMoveTheSameFieldTwice:
    async def test_each_action_is_verified_when_it_lands_so_a_later_move_does_not_fail_it(self) -> None:
        h = await make()
        await h.rollout.gate_check_health(CHANNEL, "gonogo.day3", maria)
        await h.rollout.gate_tick(CHANNEL, "gonogo.day3", "oncall", sam)
        await h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, maria)
        result = await h.run_step("day3.2", "production")
        assert result.ok, result.message
        assert h.world.state("production/api/us-central1")["max_instances"] == 35


class TestFinishingARun:
    async def test_finishing_frees_the_channel_for_the_next_rollout_and_is_audited(self) -> None:
        h = await make()
        closed = await h.rollout.finish(CHANNEL, lee, "week 17 complete")
        assert closed.state is RunState.FINISHED and closed.finished_at is not None
        assert await h.rollout.active_run(CHANNEL) is None
        again = await h.rollout.start_run(CHANNEL, None, lee)
        assert again.id != closed.id

    async def test_a_member_may_not_finish_the_run(self) -> None:
        h = await make()
        with pytest.raises(Refused, match="dana may not"):
            await h.rollout.finish(CHANNEL, dana, None)
        assert await h.rollout.active_run(CHANNEL) is not None
