from __future__ import annotations

from bot.engine.plan import Plan, PlannedTarget
from bot.engine.ports import Change, Target
from bot.engine.rollback import RollbackPlan
from bot.runbook.models import Step
from bot.slack.blocks.from_engine import plan_view, rollback_card_view
from bot.slack.blocks.views import CardMeta, PlanLine

STEP = Step.model_validate(
    {
        "id": "day4.1",
        "title": "Canary then scale",
        "actions": [
            {
                "kind": "http.load",
                "path": "/",
                "rate_rps": 5,
                "concurrency": 2,
                "duration": "1m",
                "max_requests": 300,
                "environments": ["staging"],
            },
            {"kind": "cloud_run.scale", "service": "ion-api", "min_instances": 2},
            {"kind": "wait", "duration": "5m"},
        ],
    }
)


def test_plan_changes_are_grouped_under_the_action_that_makes_them() -> None:
    change = Change("ion-api us-central1 (production)", "minInstances", 3, 2)
    plan = Plan(
        run_id="r",
        step_id="day4.1",
        environment="production",
        production=True,
        dry_run=False,
        lines=["Scale ion-api: min 2", "Wait 5m"],
        changes=[change],
        fingerprint="abc",
        targets=(PlannedTarget(1, Target("us-central1", "ion-api us-central1"), {"min": 3}, (change,)),),
    )
    view = plan_view(plan, STEP)
    assert view.lines == (PlanLine("Scale ion-api: min 2", (change,), True), PlanLine("Wait 5m", (), False))
    assert view.production and view.fingerprint == "abc"


def test_a_rollback_with_nothing_applied_becomes_a_refusal() -> None:
    meta = CardMeta("r")
    empty = RollbackPlan("r", "day4.1", "production", True, None, [], [])
    assert rollback_card_view(empty, STEP, meta).refusal == (
        "day4.1 (production) has no applied changes; nothing to restore."
    )
    change = Change("ion-api us-central1 (production)", "minInstances", 2, 3)
    view = rollback_card_view(RollbackPlan("r", "day4.1", "production", True, "ex-1", [change], []), STEP, meta)
    assert view.refusal is not None  # no target records: nothing the engine can revert
    assert view.restores == (change,)
