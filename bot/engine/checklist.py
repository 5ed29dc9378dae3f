"""Checklist boxes of steps and gate sections: tick, untick, waive, and "is it complete?"."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from bot.engine.context import Context
from bot.engine.errors import Refused
from bot.engine.ports import Actor
from bot.engine.records import ChecklistTick, Run, Waiver
from bot.runbook.models import ChecklistItem
from bot.runbook.suggest import did_you_mean


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


def _item(items: Sequence[ChecklistItem], scope: str, item_id: str) -> ChecklistItem:
    found = next((i for i in items if i.id == item_id), None)
    if found is None:
        raise Refused(
            f"{scope} has no checklist item {item_id}{did_you_mean(item_id, [i.id for i in items])}. "
            "Nothing was ticked."
        )
    return found


async def status(ctx: Context, run_id: str, scope: str, items: Sequence[ChecklistItem]) -> ChecklistStatus:
    ticks = {t.item_id: t for t in await ctx.store.ticks(run_id, scope)}
    return ChecklistStatus(list(items), ticks, await ctx.store.waivers(run_id, scope))


async def tick(ctx: Context, run: Run, scope: str, items: Sequence[ChecklistItem], item_id: str, actor: Actor) -> None:
    item = _item(items, scope, item_id)
    now = ctx.clock.now()
    await ctx.store.put_tick(ChecklistTick(run.id, scope, item.id, actor.user_id, actor.name, now))
    await ctx.auditor.record(actor, "tick", run_id=run.id, step_id=scope, after=item.id, detail=item.text)


async def untick(
    ctx: Context, run: Run, scope: str, items: Sequence[ChecklistItem], item_id: str, actor: Actor
) -> None:
    item = _item(items, scope, item_id)
    if not await ctx.store.remove_tick(run.id, scope, item.id):
        raise Refused(f"{scope}: '{item.text}' was not ticked, so there is nothing to untick.")
    await ctx.auditor.record(actor, "untick", run_id=run.id, step_id=scope, before=item.id, detail=item.text)


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
        _item(items, scope, item_id)
    waiver = Waiver(
        uuid.uuid4().hex, run.id, scope, item_id, actor.user_id, actor.name, reason.strip(), ctx.clock.now()
    )
    await ctx.store.add_waiver(waiver)
    await ctx.auditor.record(
        actor, "waive", run_id=run.id, step_id=scope, after=item_id or "whole checklist", detail=reason
    )
    return waiver
