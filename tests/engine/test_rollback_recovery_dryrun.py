import asyncio
import json
from datetime import timedelta

import pytest

from bot.engine.audit import format_audit
from bot.engine.errors import Refused
from bot.engine.records import ExecutionState, RunState, StepState, TargetStatus
from tests.engine.fakes import SimulatedCrash
from tests.engine.harness import CHANNEL, dana, lee, make, maria, olga, sam

ORIGINAL = {"min_instances": 3, "max_instances": 100}


class TestRollback:
    async def test_rollback_last_restores_snapshot_exactly(self) -> None:
        h = await make()
        h.world.state("production/api/us-central1")["min_instances"] = 4
        await h.run_step("day2.1", "production")
        await h.clock.advance(timedelta(minutes=5))
        await h.run_step("day2.2", "production")
        preview = await h.rollout.rollback_preview(CHANNEL, "last", olga)
        assert preview.step_id == "day2.2"
        assert preview.lines == [
            "api europe-west1 (production): max_instances 50 -> 100",
            "api us-central1 (production): max_instances 50 -> 100",
        ]
        result = await h.rollout.confirm_rollback(CHANNEL, "last", olga)
        assert result.ok and result.lane.state is StepState.ROLLED_BACK
        assert h.world.services["production/api/us-central1"] == {"min_instances": 1, "max_instances": 100}
        # the next "last" is day2.1, restored to its own snapshot (4 was the live value then)
        await h.rollout.confirm_rollback(CHANNEL, "day2.1", olga)
        assert h.world.services["production/api/us-central1"] == {"min_instances": 4, "max_instances": 100}
        assert h.world.services["production/api/europe-west1"] == ORIGINAL

    async def test_rollback_twice_is_a_no_op(self) -> None:
        h = await make()
        await h.run_step("day2.1", "production")
        first = await h.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        reverted = list(h.world.reverted)
        second = await h.rollout.confirm_rollback(CHANNEL, "last", sam)
        assert first.ok and second.plan.already_rolled_back
        assert second.message == "day2.1 (production) was already rolled back; nothing was changed."
        assert h.world.reverted == reverted
        assert len([e for e in h.store.execution_rows.values() if e.kind == "rollback"]) == 1

    async def test_concurrent_rollbacks_revert_once(self) -> None:
        h = await make()
        await h.run_step("day2.1", "production")
        results = await asyncio.gather(
            *(h.rollout.confirm_rollback(CHANNEL, "day2.1", sam) for _ in range(10)), return_exceptions=True
        )
        assert not any(isinstance(r, Exception) and not isinstance(r, Refused) for r in results)
        assert sorted(h.world.reverted) == ["production/api/europe-west1", "production/api/us-central1"]

    async def test_rollback_needs_the_rollback_permission(self) -> None:
        h = await make()
        await h.run_step("day2.1", "production")
        with pytest.raises(Refused, match="dana may not roll back steps"):
            await h.rollout.confirm_rollback(CHANNEL, "last", dana)
        assert h.world.reverted == []

    async def test_rollback_last_with_nothing_applied_says_so(self) -> None:
        h = await make()
        with pytest.raises(Refused, match="Nothing has been applied in production"):
            await h.rollout.rollback_preview(CHANNEL, "last", sam)


class TestRecovery:
    async def test_recover_marks_interrupted_and_never_reapplies(self) -> None:
        h = await make()
        h.world.crash_before_write.add("api/europe-west1")
        with pytest.raises(SimulatedCrash):
            await h.run_step("day2.1", "production")
        assert h.world.applied == ["production/api/us-central1"]
        restarted = await h.restarted_after_the_lease()
        recovered = await restarted.recover()
        assert [r.message for r in recovered] == [
            "day2.1 (production): interrupted by a restart; 1 of 2 targets applied. "
            "Nothing was applied again; roll it back or run it again when ready."
        ]
        assert h.world.applied == ["production/api/us-central1"]
        execution = next(iter(h.store.execution_rows.values()))
        assert execution.state is ExecutionState.INTERRUPTED
        statuses = [r.status for r in await h.store.targets(execution.id)]
        assert statuses == [TargetStatus.APPLIED, TargetStatus.INTERRUPTED]
        lane = await h.store.get_lane(execution.run_id, "day2.1", "production")
        assert lane is not None and lane.state is StepState.FAILED
        assert "recovered" in [e.kind for e in h.notifier.events]
        undone = await restarted.confirm_rollback(CHANNEL, "day2.1", sam)
        assert undone.ok and h.world.reverted == ["production/api/us-central1"]
        assert h.world.services["production/api/us-central1"] == ORIGINAL

    async def test_a_write_that_landed_before_the_crash_is_recognised_as_applied(self) -> None:
        h = await make()
        h.world.crash_after_write.add("api/us-central1")
        with pytest.raises(SimulatedCrash):
            await h.run_step("day2.1", "production")
        recovered = await (await h.restarted_after_the_lease()).recover()
        assert recovered[0].applied == 1 and recovered[0].total == 2
        assert h.world.applied == ["production/api/us-central1"]

    async def test_an_interrupted_rollback_is_reconciled_and_can_be_finished(self) -> None:
        h = await make()
        await h.run_step("day2.1", "production")
        h.world.crash_revert.add("api/us-central1")  # reverted second (newest first)
        with pytest.raises(SimulatedCrash):
            await h.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        restarted = await h.restarted_after_the_lease()
        [recovered] = await restarted.recover()
        assert "rollback interrupted by a restart; 1 of 2 targets reverted" in recovered.message
        h.world.crash_revert.clear()
        finished = await restarted.confirm_rollback(CHANNEL, "day2.1", sam)
        assert finished.ok and finished.lane.state is StepState.ROLLED_BACK
        assert h.world.reverted == ["production/api/europe-west1", "production/api/us-central1"]
        assert all(v == ORIGINAL for v in h.world.services.values())

    async def test_each_write_ahead_step_is_one_store_call_before_apply(self) -> None:
        h = await make()
        h.world.crash_before_write.add("api/us-central1")
        with pytest.raises(SimulatedCrash):
            await h.run_step("day2.1", "production")
        assert h.store.save_target_calls == 1
        [record] = h.store.target_rows.values()
        assert record.status is TargetStatus.SNAPSHOTTED and record.snapshot == {"min_instances": 3}


class TestDryRun:
    async def test_dry_run_mutates_nothing(self) -> None:
        h = await make(dry_run=True)
        result = await h.run_step("day2.1", "production")
        assert result.ok
        assert h.world.applied == [] and all(v == ORIGINAL for v in h.world.services.values())
        assert h.notifier.events and all(e.text.startswith("DRY RUN: ") for e in h.notifier.events)
        records = list(h.store.target_rows.values())
        assert records and all(r.status is TargetStatus.SKIPPED for r in records)
        assert any("would change api us-central1" in t for t in h.notifier.texts("execution_progress"))
        await h.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        assert h.world.reverted == []

    async def test_a_single_run_can_be_a_dry_run(self) -> None:
        h = await make(start=False)
        run = await h.rollout.start_run(CHANNEL, None, lee, dry_run=True)
        assert run.dry_run and run.start_date.isoformat() == "2026-10-29"
        await h.run_step("day2.1", "production")
        assert h.world.applied == []


class TestRunLifecycle:
    async def test_one_active_run_per_channel(self) -> None:
        h = await make()
        with pytest.raises(Refused, match=r"This channel already has run .* finish or abandon it"):
            await h.rollout.start_run(CHANNEL, None, lee)

    async def test_a_gate_decided_no_pauses_the_run(self) -> None:
        h = await make()
        with pytest.raises(Refused, match="needs a reason"):
            await h.rollout.gate_decide(CHANNEL, "gonogo.day3", False, None, maria)
        await h.rollout.gate_decide(CHANNEL, "gonogo.day3", False, "error rate too high", maria)
        run = await h.rollout.active_run(CHANNEL)
        assert run is not None and run.state is RunState.PAUSED

    async def test_sign_offs_are_recorded_by_role(self) -> None:
        h = await make()
        view = await h.rollout.gate_signoff(CHANNEL, "gonogo.day3", "manager", maria)
        assert [(s.role, s.name) for s in view.record.signoffs] == [("manager", "maria")]
        with pytest.raises(Refused, match="does not have that role"):
            await h.rollout.gate_signoff(CHANNEL, "gonogo.day3", "lead", maria)

    async def test_an_unknown_health_check_value_blocks_yes_until_overridden(self) -> None:
        h = await make()
        del h.checker.values["error_rate_pct"]
        await h.rollout.gate_check_health(CHANNEL, "gonogo.day3", maria)
        await h.rollout.gate_tick(CHANNEL, "gonogo.day3", "oncall", sam)
        with pytest.raises(Refused, match=r"'Error rate' is unknown \(no data\)"):
            await h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, maria)
        await h.rollout.gate_override(CHANNEL, "gonogo.day3", "Error rate", "dashboard shows 0.1%", maria)
        view = await h.rollout.gate_decide(CHANNEL, "gonogo.day3", True, None, maria)
        assert view.record.decision == "yes"


class TestAudit:
    async def test_every_transition_and_refusal_is_in_the_audit_log(self) -> None:
        h = await make()
        await h.run_step("day2.1", "production")
        with pytest.raises(Refused):
            await h.rollout.confirm_rollback(CHANNEL, "last", dana)
        entries = await h.rollout.audit(CHANNEL, 100)
        moves = [(e.before, e.after) for e in entries if e.what == "step state"]
        assert moves == [
            ("pending", "ready"),
            ("ready", "approved"),
            ("approved", "running"),
            ("running", "verifying"),
            ("verifying", "done"),
        ]
        text = format_audit(entries, as_json=False)
        claim = next(line for line in text.splitlines() if "[approved -> running]" in line)
        assert claim.split()[2] == "sam" and " day2.1@production step state " in claim
        assert "(REFUSED)" in text
        rows = json.loads(format_audit(entries, as_json=True))
        assert rows[-1]["outcome"] == "refused" and rows[-1]["actor_name"] == "dana"
        assert format_audit([], as_json=False) == "No audit entries."

    async def test_status_shows_where_the_run_is(self) -> None:
        h = await make()
        await h.run_step("day2.1", "production")
        status = await h.rollout.status(CHANNEL)
        assert status.position.day == 1
        states = {s.step_id: s.states for s in status.steps}
        assert states["day2.1"] == {"production": StepState.DONE}
        assert states["day1.1"] == {"staging": StepState.PENDING, "production": StepState.PENDING}
        assert status.gates == {"gonogo.day3": None}
        assert status.position.next_step is not None and status.position.next_step.step.id == "day1.1"
