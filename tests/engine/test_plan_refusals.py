"""A plan that an action cannot build is refused in a sentence, not reported as a crash."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine.errors import Refused
from bot.engine.plan import build_plan
from bot.engine.ports import JSON, Action, ActionFailed, Change, Target
from bot.runbook.models import Environment, Runbook
from tests.engine.fakes import FakeActions, FakeScale
from tests.engine.harness import make

REASON = (
    "no revision of api in us-central1 (production) is tagged 'blue'; nothing was changed; "
    "deploy it with that tag first"
)


class UnplannableScale(FakeScale):
    """A scale whose diff fails the way a traffic action to a missing tag does."""

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        raise ActionFailed(REASON)


class UnplannableActions(FakeActions):
    def build(self, spec: Any, runbook: Runbook, environment: Environment) -> Action:
        if spec.kind == "cloud_run.scale":
            return UnplannableScale(spec, runbook, environment, self.world)
        return super().build(spec, runbook, environment)


async def test_an_action_failing_while_planning_becomes_a_refusal_naming_step_and_environment() -> None:
    h = await make()
    ctx = h.rollout._ctx
    ctx.actions = UnplannableActions(h.world)
    step = ctx.runbook.step("day1.1")
    assert step is not None
    with pytest.raises(Refused) as refused:
        await build_plan(ctx, "run-1", False, step, "production")
    assert refused.value.message == f"cannot plan day1.1 in production: {REASON}"
    assert h.world.applied == []
