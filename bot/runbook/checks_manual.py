"""Cross-references of manual actions and timed checklists: roles, metrics and lanes that exist."""

from __future__ import annotations

from collections.abc import Iterator

from bot.runbook.models import STEP_LANE, Manual, Runbook
from bot.runbook.suggest import did_you_mean

Loc = tuple[str | int, ...]


def manual_and_checklist_findings(rb: Runbook) -> Iterator[tuple[Loc, str]]:
    roles = [role.id for role in rb.roles]
    metrics = [metric.id for metric in rb.metrics]
    for d, day in enumerate(rb.days):
        for s, step in enumerate(day.steps):
            loc: Loc = ("days", d, "steps", s)
            for a, action in enumerate(step.actions):
                if not isinstance(action, Manual):
                    continue
                if action.by is not None and roles and action.by not in roles:
                    yield (*loc, "actions", a, "by"), _unknown("role", action.by, roles)
                metric = action.value.metric if action.value is not None else None
                if metric is not None and metric not in metrics:
                    yield (*loc, "actions", a, "value", "metric"), _unknown("metric", metric, metrics)
            ids = [a.id for a in step.actions if isinstance(a, Manual) and a.id]
            for a, action in enumerate(step.actions):
                if isinstance(action, Manual) and action.id and ids.count(action.id) > 1:
                    yield (*loc, "actions", a, "id"), f"duplicate manual action id '{action.id}' in {step.id}"
            for c, group in enumerate(step.checklists):
                if group.lane != STEP_LANE and group.lane not in step.environments:
                    known = [STEP_LANE, *step.environments]
                    yield (*loc, "checklists", c, "lane"), _unknown(f"lane of {step.id}", group.lane, known)
                if group.after is not None and group.after not in step.environments:
                    message = _unknown(f"lane of {step.id}", group.after, step.environments)
                    yield (*loc, "checklists", c, "after"), message


def _unknown(kind: str, name: str, known: list[str]) -> str:
    return f"unknown {kind} '{name}'{did_you_mean(name, known)}; known: {', '.join(known)}"
