"""From the engine's read models (Plan, RollbackPlan) to the card builders' views.

The only place the card package reads engine types, so the builders stay testable alone.
"""

from __future__ import annotations

from bot.engine.plan import Plan
from bot.engine.ports import Change
from bot.engine.rollback import RollbackPlan
from bot.runbook.models import Step
from bot.slack.blocks.views import CardMeta, PlanLine, PlanView, RollbackCardView

# Kinds that change something (and so show "already at target" when their diff is empty).
MUTATING_KINDS = frozenset(
    {
        "cloud_run.scale",
        "cloud_run.env",
        "cloud_run.traffic",
        "cloud_run.deploy",
        "cloud_sql.tier",
        "sql.execute",
        "scaling.schedule",
    }
)


def plan_view(plan: Plan, step: Step) -> PlanView:
    """The plan's changes grouped under the action line that makes them (engine's binding filter)."""
    bound = [
        (index, spec)
        for index, spec in enumerate(step.actions)
        if spec.environments is None or plan.environment in spec.environments
    ]
    changes: dict[int, list[Change]] = {}
    for target in plan.targets:
        changes.setdefault(target.action_index, []).extend(target.changes)
    lines = []
    for position, text in enumerate(plan.lines):
        index, spec = bound[position] if position < len(bound) else (-1, None)
        mutating = spec is not None and spec.kind in MUTATING_KINDS
        lines.append(PlanLine(text, tuple(changes.get(index, ())), mutating))
    if not plan.targets and plan.changes:  # a plan without per-target detail: show its changes flat
        lines.append(PlanLine("Changes", tuple(plan.changes)))
    return PlanView(plan.environment, plan.fingerprint, tuple(lines), plan.production)


def rollback_card_view(rollback: RollbackPlan, step: Step, meta: CardMeta) -> RollbackCardView:
    """The rollback card's view; the refusal sentence comes from the engine's own lines."""
    refusal = None
    if rollback.already_rolled_back or not rollback.targets:
        refusal = rollback.lines[0]
    return RollbackCardView(
        meta=meta,
        step_id=rollback.step_id,
        step_title=step.title,
        environment=rollback.environment,
        fingerprint=rollback.execution_id or "",
        restores=tuple(rollback.changes),
        refusal=refusal,
        production=rollback.production,
    )
