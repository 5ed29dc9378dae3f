"""Checklist boxes of steps and gate sections: tick, untick, waive, "is it complete?", and "is it due?".

An item is named by its id or by the number the card shows (1..n). A list with a moment
(``after: production`` + ``for: 30m``) cannot be ticked before that environment's change landed
and the time after it passed: ticking it earlier would record a check of something not yet there.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.engine.audit_kinds import AuditKind
from bot.engine.context import Context
from bot.engine.errors import Refused
from bot.engine.plan import bind_actions
from bot.engine.ports import Actor
from bot.engine.records import ChecklistTick, Run, StepState, TargetStatus, Waiver
from bot.runbook.durations import format_duration
from bot.runbook.models import Checklist, ChecklistItem, Step
from bot.runbook.suggest import did_you_mean

# Lane states in which the lane's change may have landed (and is not undone).
_LANDED_STATES = frozenset({StepState.RUNNING, StepState.WAITING, StepState.VERIFYING, StepState.DONE})


@dataclass(frozen=True)
class ChecklistStatus:
    items: list[ChecklistItem]
    ticks: dict[str, ChecklistTick]
    waivers: list[Waiver]

    @property
    def whole_waiver(self) -> Waiver | None:
        return next((w for w in self.waivers if w.item_id is None), None)

    def waived(self, item_id: str) -> bool:
        return self.whole_waiver is not None or any(w.item_id == item_id for w in self.waivers)

    @property
    def missing(self) -> list[ChecklistItem]:
        return [i for i in self.items if i.id not in self.ticks and not self.waived(i.id)]

    @property
    def complete(self) -> bool:
        return not self.missing

    def summary(self) -> str:
        return f"{len(self.items) - len(self.missing)} of {len(self.items)} ticked or waived"


def _item(items: Sequence[ChecklistItem], scope: str, item_id: str, verb: str = "ticked") -> ChecklistItem:
    """The item named by id, or by its number on the card (1..n); else a refusal listing the valid ones."""
    found = next((i for i in items if i.id == item_id), None)
    if found is None and item_id.isdigit() and 1 <= int(item_id) <= len(items):
        found = items[int(item_id) - 1]
    if found is None:
        valid = ", ".join(f"{n} {i.id}" for n, i in enumerate(items, start=1)) or "none"
        raise Refused(
            f"{scope} has no checklist item {item_id}{did_you_mean(item_id, [i.id for i in items])}; "
            f"its items are {valid} (a number or an id). Nothing was {verb}."
        )
    return found


def resolve(items: Sequence[ChecklistItem], scope: str, item_id: str, verb: str = "ticked") -> ChecklistItem:
    return _item(items, scope, item_id, verb)


async def status(ctx: Context, run_id: str, scope: str, items: Sequence[ChecklistItem]) -> ChecklistStatus:
    ticks = {t.item_id: t for t in await ctx.store.ticks(run_id, scope)}
    return ChecklistStatus(list(items), ticks, await ctx.store.waivers(run_id, scope))


async def tick(ctx: Context, run: Run, scope: str, items: Sequence[ChecklistItem], item_id: str, actor: Actor) -> None:
    item = _item(items, scope, item_id)
    now = ctx.clock.now()
    async with ctx.unit_of_work():  # the tick and its audit entry, or neither
        await ctx.store.put_tick(ChecklistTick(run.id, scope, item.id, actor.user_id, actor.name, now))
        await ctx.auditor.record(actor, AuditKind.TICK, run_id=run.id, step_id=scope, after=item.id, detail=item.text)


async def untick(
    ctx: Context, run: Run, scope: str, items: Sequence[ChecklistItem], item_id: str, actor: Actor
) -> None:
    item = _item(items, scope, item_id, "unticked")
    async with ctx.unit_of_work():
        if not await ctx.store.remove_tick(run.id, scope, item.id):
            raise Refused(f"{scope}: '{item.text}' was not ticked, so there is nothing to untick.")
        await ctx.auditor.record(
            actor, AuditKind.UNTICK, run_id=run.id, step_id=scope, before=item.id, detail=item.text
        )


async def waive(
    ctx: Context,
    run: Run,
    scope: str,
    items: Sequence[ChecklistItem],
    item_id: str | None,
    reason: str,
    actor: Actor,
) -> Waiver:
    """A lead accepts ``scope`` without ``item_id`` (None: the whole checklist); a reason is required."""
    if not reason.strip():
        raise Refused("A waiver needs a reason, e.g. 'waive day2.1 backup -- snapshot taken manually'.")
    if item_id is not None:
        item_id = _item(items, scope, item_id, "waived").id
    waiver = Waiver(
        uuid.uuid4().hex, run.id, scope, item_id, actor.user_id, actor.name, reason.strip(), ctx.clock.now()
    )
    async with ctx.unit_of_work():
        await ctx.store.add_waiver(waiver)
        await ctx.auditor.record(
            actor, AuditKind.WAIVE, run_id=run.id, step_id=scope, after=item_id or "whole checklist", detail=reason
        )
    return waiver


# --- when a list is due ----------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """When a list may be ticked: ``at`` None with ``landed`` None means its change has not landed."""

    checklist: Checklist
    landed: datetime | None
    at: datetime | None

    @property
    def timed(self) -> bool:
        return self.checklist.after is not None

    def is_due(self, now: datetime) -> bool:
        return not self.timed or (self.at is not None and now >= self.at)


async def landed_at(ctx: Context, run: Run, step: Step, environment: str) -> datetime | None:
    """When ``environment``'s change of ``step`` landed: its last change applied (or, for a lane that
    changes nothing, when all its actions were through); None while it has not landed or was undone."""
    lane = await ctx.store.get_lane(run.id, step.id, environment)
    if lane is None or lane.state not in _LANDED_STATES or lane.last_execution_id is None:
        return None
    execution = await ctx.store.get_execution(lane.last_execution_id)
    if execution is None or execution.kind != "apply":
        return None
    records = await ctx.store.targets(execution.id)
    bound, _ = bind_actions(ctx, step, environment)
    if any(item.action.mutating for item in bound):
        # A dry run's change "lands" when it was planned (skipped): the rehearsal goes through every list.
        kept = (TargetStatus.APPLIED, TargetStatus.UNCHANGED, *((TargetStatus.SKIPPED,) if execution.dry_run else ()))
        landed = [r.at for r in records if r.mutating and r.status in kept]
        return max(landed) if landed else None
    if lane.state in (StepState.VERIFYING, StepState.DONE) and records:
        return max(r.at for r in records)
    return None


async def due(ctx: Context, run: Run, step: Step, checklist: Checklist) -> Due:
    if checklist.after is None:
        return Due(checklist, None, None)
    landed = await landed_at(ctx, run, step, checklist.after)
    at = landed + checklist.wait if landed is not None and checklist.wait is not None else landed
    return Due(checklist, landed, at)


def moment(checklist: Checklist) -> str:
    """``30 min after the production change landed``, or ``the production change has landed``."""
    if checklist.wait is None:
        return f"the {checklist.after} change has landed"
    seconds = int(checklist.wait.total_seconds())
    span = f"{seconds // 60} min" if seconds % 60 == 0 and seconds < 3600 else format_duration(checklist.wait)
    return f"{span} after the {checklist.after} change landed"


async def require_due(ctx: Context, run: Run, step: Step, item: ChecklistItem) -> None:
    """Refuse a tick before its list's moment, saying when it will be due."""
    group = step.checklist_of(item.id)
    if group is None or group.after is None:
        return
    when = await due(ctx, run, step, group)
    now = ctx.clock.now()
    if when.is_due(now):
        return
    text = f"'{item.text}' ({step.id}, {group.title}) is not due until {moment(group)}"
    if when.landed is None:
        lane = await ctx.store.get_lane(run.id, step.id, group.after)
        state = lane.state.value if lane else "pending"
        raise Refused(f"{text}; {step.id} has not changed {group.after} yet (it is {state}). Nothing was ticked.")
    assert when.at is not None
    raise Refused(
        f"{text} at {ctx.show_time(when.landed)}: tick it from {ctx.show_time(when.at)} "
        f"(it is {ctx.show_time(now)}). Nothing was ticked."
    )
