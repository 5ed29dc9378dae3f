"""The deadline pass: find what waits for a person, and send what is owed once (across replicas).

Runs with every trigger watch (bot/engine/duties.py). Each notice is claimed first (``claim_post``
on its key and the local date it fell due: one replica wins, whenever it passes), then said (an
Event the chat layer turns into a thread reply with mentions and one DM to each person), audited,
and, for ``hold``, the run is held. A consequence that fell due while the bot was down is said
when it comes back, once, with when and why it is late.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from bot.engine import approvals
from bot.engine.context import Context
from bot.engine.deadlines import (
    AUDIT_KIND,
    Notice,
    Waiting,
    approvers,
    consequence_text,
    gate_due_at,
    gate_roles,
    manual_roles,
    owed,
    reminder_text,
    step_due_at,
)
from bot.engine.duties import Downtime
from bot.engine.ports import BOT_ACTOR, JSON
from bot.engine.records import Run, RunState, StepLane, StepState
from bot.runbook.durations import format_duration
from bot.runbook.models import Manual, Step

EVENT_OF = {
    "remind": "deadline_reminder",
    "escalate": "deadline_escalated",
    "hold": "deadline_hold",
    "fail": "deadline_missed",
}
HANDOVER_FALLBACK_EVENT = "handover_fallback"  # bot/engine/handover.py; said the same way (mentions, DMs)
DEADLINE_EVENTS = frozenset({*EVENT_OF.values(), HANDOVER_FALLBACK_EVENT})


@dataclass(frozen=True)
class Person:
    user_id: str  # a Slack user id, or a user group id (S...)
    name: str


class People(Protocol):
    """Who holds a role now: ION_ROLES, delegations, and PagerDuty's on-call (bot/oncall)."""

    async def members(self, role: str) -> list[Person]: ...


class NoticeClaims(Protocol):
    async def claim_post(self, job_key: str, run_id: str, local_date: str) -> bool: ...


HoldRun = Callable[[Run, str], Awaitable[None]]


class Nudges:
    def __init__(self, ctx: Context, claims: NoticeClaims, people: People, hold_run: HoldRun) -> None:
        self._ctx = ctx
        self._claims = claims
        self._people = people
        self._hold_run = hold_run

    async def pass_once(self, run: Run, down: Downtime | None = None) -> list[Notice]:
        """Everything owed now for ``run`` that this process won the claim for, sent (late, saying
        so, when it fell due while the bot was ``down``)."""
        if run.state not in (RunState.ACTIVE, RunState.HELD, RunState.PAUSED):
            return []
        now = self._ctx.clock.now()
        sent: list[Notice] = []
        for notice in owed(await self.waiting(run), now):
            # Claimed on the date it fell due, not today's: a pass just after midnight on one
            # replica and one just before on another claim the same notice.
            local = notice.item.due_at.astimezone(self._ctx.zone).date().isoformat()
            late = down is not None and notice.kind != "remind" and down.covers(notice.item.due_at)
            told = await self._told(notice)  # before the unit: the roster may be asked over the network
            async with self._ctx.unit_of_work():  # the claim, its audit entry and the hold it makes, or none
                if not await self._claims.claim_post(notice.claim_key, run.id, local):
                    continue
                await self._say(run, notice, told, down if late else None)
            sent.append(notice)
        return sent

    async def waiting(self, run: Run) -> list[Waiting]:
        """What waits for a person in ``run`` and has a deadline: READY lanes still missing votes,
        lanes stopped at a manual item, and gates not decided once their time has come."""
        ctx, calendar = self._ctx, self._ctx.calendar(run)
        items: list[Waiting] = []
        for lane in await ctx.store.lanes(run.id):
            step = ctx.runbook.step(lane.step_id)
            if step is None or step.deadline is None or lane.changed_at is None:
                continue
            due = step_due_at(step.deadline, step, lane.changed_at, calendar)
            if due is None:
                continue
            found = await self._lane_waiting(step, lane)
            if found is not None:
                what, roles = found
                items.append(
                    Waiting(
                        step.id, lane.environment, what, lane.changed_at, roles, step.deadline, due, lane.requested_by
                    )
                )
        for gate in ctx.runbook.gates:
            due = gate_due_at(gate.deadline, gate, calendar) if gate.deadline else None
            if gate.deadline is None or due is None or not 1 <= gate.day <= calendar.working_days:
                continue
            opens = calendar.at(calendar.date_of(gate.day), gate.at)
            record = await ctx.store.get_gate(run.id, gate.id)
            if ctx.clock.now() >= opens and (record is None or record.decision is None):
                items.append(
                    Waiting(gate.id, None, "Go/No-Go decision", opens, gate_roles(gate, ctx.policy), gate.deadline, due)
                )
        return items

    async def _lane_waiting(self, step: Step, lane: StepLane) -> tuple[str, tuple[str, ...]] | None:
        ctx = self._ctx
        if lane.state is StepState.WAITING:
            return f"{lane.environment} manual item", manual_roles(_manual_of(step, lane), ctx.policy)
        if lane.state is not StepState.READY or not approvals.needs(ctx, step, lane.environment):
            return None
        votes = [a for a in await ctx.store.approvals(lane.run_id, lane.step_id, lane.environment) if a.active]
        fingerprint = votes[-1].plan_fingerprint if votes else ""
        status = await approvals.evaluate(ctx, step, lane, fingerprint, excluding=lane.requested_by)
        return None if status.satisfied else (f"{lane.environment} approval", approvers(step, ctx.policy))

    async def _told(self, notice: Notice) -> list[Person]:
        """Who hears of ``notice``: the item's roles, or for an escalation the role it escalates to."""
        item = notice.item
        roles = (item.deadline.escalate,) if notice.kind == "escalate" else item.roles
        told = [p for r in roles for p in await self._people.members(r) if p.user_id != item.excluded]
        return list({p.user_id: p for p in told}.values())

    async def _say(self, run: Run, notice: Notice, people: list[Person], late: Downtime | None) -> None:
        ctx, item, now = self._ctx, notice.item, self._ctx.clock.now()
        show = ctx.show_time(item.due_at)
        roles = (item.deadline.escalate,) if notice.kind == "escalate" else item.roles
        remind = notice.kind == "remind"
        text = reminder_text(item, now, show) if remind else consequence_text(notice, now, show)
        kind = EVENT_OF[notice.kind]
        waited = format_duration(max(now - item.since, timedelta(0)))
        names = ", ".join(p.name for p in people) or "nobody (no one holds the role)"
        detail = {
            "remind": f"{item.label} due {show}: reminded {names}",
            "escalate": f"{item.label} waited {waited}; escalated to {names} ({item.deadline.escalate}) at {show}",
            "hold": f"{item.label} waited {waited}; the run was held at {show}",
            "fail": f"{item.label} waited {waited}; missed its deadline at {show}",
        }[notice.kind]
        if late is not None:
            said = late.late_note(ctx.show_time, "Said")
            text, detail = f"{text} {said}", f"{detail} ({said.rstrip('.')})"
        await ctx.auditor.record(
            BOT_ACTOR,
            AUDIT_KIND[notice.kind],
            run_id=run.id,
            step_id=item.scope,
            environment=item.environment,
            detail=detail,
        )
        data: dict[str, JSON] = {
            "scope": item.scope,
            "environment": item.environment,
            "due_at": item.due_at.isoformat(),
            "mention": [p.user_id for p in people],
            "dm": [p.user_id for p in people],
            "roles": list(roles if notice.kind != "remind" else item.roles),
        }
        await ctx.emit(run, kind, text, item.scope if ctx.runbook.step(item.scope) else None, data)
        if notice.kind == "hold" and run.state is not RunState.HELD:  # held already: nothing to hold
            await self._hold_run(run, f"{item.label} passed its deadline ({show})")


def _manual_of(step: Step, lane: StepLane) -> Manual | None:
    """The manual action the lane waits at: its reason ends with its number or id."""
    ref = (lane.reason or "").rsplit(" ", 1)[-1].strip(".")
    for number, (_, action) in enumerate(step.manual_actions(), start=1):
        if ref in (str(number), action.id):
            return action
    manuals = step.manual_actions()
    return manuals[0][1] if len(manuals) == 1 else None
