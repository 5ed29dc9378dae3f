"""What running a lane would change: each action's line and its diff against a fresh snapshot.

The fingerprint hashes the plan's lines and changes; approvals are given to a fingerprint, and a
confirmation carrying an old one is refused, so nobody runs a plan they have not seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.engine.context import Context
from bot.engine.errors import Refused
from bot.engine.ports import JSON, Action, ActionFailed, Change, Target
from bot.runbook.models import Step


@dataclass(frozen=True)
class BoundAction:
    """A runbook action bound to the lane's environment; ``index`` is its place in step.actions."""

    index: int
    action: Action
    line: str


@dataclass(frozen=True)
class PlannedTarget:
    action_index: int
    target: Target
    snapshot: JSON
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Plan:
    run_id: str
    step_id: str
    environment: str
    production: bool
    dry_run: bool
    lines: list[str]
    changes: list[Change]
    fingerprint: str
    skipped: list[str] = field(default_factory=list)
    targets: tuple[PlannedTarget, ...] = ()

    @property
    def change_lines(self) -> list[str]:
        return [str(c) for c in self.changes]


def bind_actions(ctx: Context, step: Step, environment: str) -> tuple[list[BoundAction], list[str]]:
    """The step's actions for ``environment``, and the lines of those it excludes."""
    env = ctx.environment(environment)
    bound: list[BoundAction] = []
    skipped: list[str] = []
    for index, spec in enumerate(step.actions):
        limited = getattr(spec, "environments", None)
        action = ctx.actions.build(spec, ctx.runbook, env)
        if limited is not None and environment not in limited:
            skipped.append(f"{action.describe()} (only in {', '.join(limited)})")
            continue
        bound.append(BoundAction(index=index, action=action, line=action.describe()))
    return bound, skipped


def find_target(action: Action, key: str) -> Target | None:
    return next((t for t in action.targets() if t.key == key), None)


async def build_plan(ctx: Context, run_id: str, dry_run: bool, step: Step, environment: str) -> Plan:
    """Snapshot and diff every target; an action that cannot be planned is refused in a sentence."""
    bound, skipped = bind_actions(ctx, step, environment)
    lines: list[str] = []
    changes: list[Change] = []
    planned: list[PlannedTarget] = []
    for item in bound:
        lines.append(item.line)
        for target in item.action.targets():
            try:
                snapshot = await item.action.snapshot(target) if item.action.mutating else None
                diff = tuple(item.action.diff(target, snapshot)) if item.action.mutating else ()
            except ActionFailed as failed:
                raise Refused(f"cannot plan {step.id} in {environment}: {failed.message}") from failed
            changes.extend(diff)
            planned.append(PlannedTarget(item.index, target, snapshot, diff))
    return Plan(
        run_id=run_id,
        step_id=step.id,
        environment=environment,
        production=ctx.is_production(environment),
        dry_run=dry_run,
        lines=lines,
        changes=changes,
        fingerprint=fingerprint(lines, changes),
        skipped=skipped,
        targets=tuple(planned),
    )


def fingerprint(lines: Sequence[str], changes: Sequence[Change]) -> str:
    digest = hashlib.sha256()
    for text in [*lines, "--", *(str(c) for c in changes)]:
        digest.update(text.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]
