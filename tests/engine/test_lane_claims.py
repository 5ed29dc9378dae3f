"""Starting a run or a rollback moves the lane through the transition table, and the move's audit entry
(with the state the lane really left) is written in the same transaction as the lane and the execution."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from bot.engine.audit_kinds import AuditKind
from bot.engine.errors import Refused
from bot.engine.records import Execution, ExecutionState, StepState
from tests.engine.harness import CHANNEL, Harness, make, sam

ENV = "production"


def moves(h: Harness, step_id: str = "day2.1") -> list[tuple[str | None, str | None]]:
    return [
        (e.before, e.after)
        for e in h.store.audit_rows
        if e.kind is AuditKind.STEP_STATE and e.step_id == step_id and e.environment == ENV
    ]


class TestClaimsAuditTheStateTheyLeft:
    async def test_a_run_audits_approved_to_running_and_its_rollback_done_to_rolling_back(self) -> None:
        h = await make()
        await h.run_step("day2.1", ENV)
        await h.rollout.confirm_rollback(CHANNEL, "day2.1", sam)

        assert ("approved", "running") in moves(h)
        assert ("done", "rolling_back") in moves(h)
        assert moves(h)[-1] == ("rolling_back", "rolled_back")

    async def test_the_rollback_of_a_failed_step_audits_failed_to_rolling_back(self) -> None:
        h = await make()
        h.world.fail_apply.add("api/europe-west1")  # the first region lands, the second is refused
        result = await h.run_step("day2.1", ENV)
        assert result.lane.state is StepState.FAILED

        await h.rollout.confirm_rollback(CHANNEL, "day2.1", sam)

        assert ("failed", "rolling_back") in moves(h)


class TestAClaimThatLosesWritesNothing:
    async def test_of_two_rollbacks_confirmed_at_once_one_claims_and_one_move_is_audited(self) -> None:
        h = await make()
        await h.run_step("day2.1", ENV)

        results = await asyncio.gather(
            h.rollout.confirm_rollback(CHANNEL, "day2.1", sam),
            h.rollout.confirm_rollback(CHANNEL, "day2.1", sam),
            return_exceptions=True,
        )

        rollbacks = [e for e in h.store.execution_rows.values() if e.kind == "rollback"]
        assert len(rollbacks) == 1
        assert [m for m in moves(h) if m[1] == "rolling_back"] == [("done", "rolling_back")]
        assert any(not isinstance(r, BaseException) and r.ok for r in results)

    async def test_a_move_the_table_does_not_allow_is_refused_before_the_store_is_asked(self) -> None:
        h = await make()
        run = await h.rollout.require_run(CHANNEL)
        lane = await h.rollout._ctx.lanes.get(run.id, "day2.1", ENV)  # pending: not approved
        execution = Execution(
            uuid.uuid4().hex, run.id, "day2.1", ENV, "apply", ExecutionState.RUNNING, "U_SRE", "plan", h.clock.now()
        )

        with pytest.raises(Refused):
            await h.rollout._ctx.lanes.claim(lane, execution, StepState.RUNNING, sam, "execution of plan")

        assert h.store.execution_rows == {}
        assert moves(h) == []
