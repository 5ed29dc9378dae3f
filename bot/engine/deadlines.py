"""Deadlines on what waits for a person (an approval, a manual item, a Go/No-Go): when each is
due, and what is owed at a given moment (a reminder before, the runbook's consequence at it).

Pure functions of (runbook, calendar, what waits, now), so the virtual clock tests them whole;
bot/engine/nudges.py reads the store, sends what is owed once and audits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from bot.engine.audit_kinds import AuditKind
from bot.engine.calendar import RunCalendar
from bot.engine.permissions import Policy
from bot.engine.records import AuditEntry
from bot.runbook.deadlines import Deadline
from bot.runbook.durations import format_duration
from bot.runbook.models import Gate, Manual, Step

GATE_GRACE = timedelta(hours=2)  # a gate with a deadline but neither due nor within: its time + this
NoticeKind = Literal["remind", "escalate", "hold", "fail"]
# The audit kind each notice is recorded as.
AUDIT_KIND: dict[NoticeKind, AuditKind] = {
    "remind": AuditKind.REMINDED,
    "escalate": AuditKind.ESCALATED,
    "hold": AuditKind.DEADLINE_HOLD,
    "fail": AuditKind.DEADLINE_MISSED,
}


@dataclass(frozen=True)
class Waiting:
    """Something only a person can move: ``what`` names it in a sentence ("production approval")."""

    scope: str  # step or gate id
    environment: str | None
    what: str
    since: datetime
    roles: tuple[str, ...]  # who can act
    deadline: Deadline
    due_at: datetime
    excluded: str | None = None  # the requester, who may not approve their own request

    @property
    def label(self) -> str:
        return f"{self.scope} {self.what}"

    @property
    def key(self) -> str:
        return f"{self.scope}@{self.environment or '-'}"


@dataclass(frozen=True)
class Notice:
    """One thing owed now for ``item``: a reminder, or the deadline's consequence."""

    kind: NoticeKind
    item: Waiting

    @property
    def claim_key(self) -> str:
        """Once per item, kind and due time (a re-requested lane gets a new due time, so new notices)."""
        return f"deadline:{self.kind}:{self.item.key}:{self.item.due_at:%Y%m%dT%H%M}"


def step_due_at(deadline: Deadline, step: Step, since: datetime, calendar: RunCalendar) -> datetime | None:
    """``due`` on its run day, ``within`` of becoming ready, else the end of the step's window."""
    fixed = deadline.due_day_and_time()
    if fixed is not None:
        day, at = fixed
        if not 1 <= day <= calendar.working_days:
            return None
        return calendar.at(calendar.date_of(day), at)
    if deadline.within is not None:
        return since + deadline.within
    window = calendar.window_of(step)
    return window[1] if window else None


def gate_due_at(deadline: Deadline, gate: Gate, calendar: RunCalendar) -> datetime | None:
    if not 1 <= gate.day <= calendar.working_days:
        return None
    opens = calendar.at(calendar.date_of(gate.day), gate.at)
    fixed = deadline.due_day_and_time()
    if fixed is not None and 1 <= fixed[0] <= calendar.working_days:
        return calendar.at(calendar.date_of(fixed[0]), fixed[1])
    return opens + (deadline.within if deadline.within is not None else GATE_GRACE)


def approvers(step: Step, policy: Policy) -> tuple[str, ...]:
    """The roles whose votes the step counts: its rules, else anyone allowed to approve."""
    roles = [rule.role for rule in step.approvals] or sorted(policy.capabilities.get("approve", frozenset()))
    return tuple(dict.fromkeys(r for r in roles if r != "bot"))


def manual_roles(action: Manual | None, policy: Policy) -> tuple[str, ...]:
    if action is not None and action.by:
        return (action.by,)
    return tuple(sorted(policy.capabilities.get("tick", frozenset()) - {"bot"}))


def gate_roles(gate: Gate, policy: Policy) -> tuple[str, ...]:
    return tuple(gate.signoffs) or tuple(sorted(policy.capabilities.get("decide_gate", frozenset()) - {"bot"}))


def owed(items: Sequence[Waiting], now: datetime) -> list[Notice]:
    """What is owed at ``now``: a reminder inside the reminder period, the consequence once past due.

    A reminder whose period was slept through entirely is not owed after the deadline: the
    consequence says more. The caller sends each notice once (its claim key)."""
    notices: list[Notice] = []
    for item in items:
        if now >= item.due_at:
            notices.append(Notice(item.deadline.then, item))
        elif now >= item.due_at - item.deadline.remind:
            notices.append(Notice("remind", item))
    return notices


def reminder_text(item: Waiting, now: datetime, show: str) -> str:
    left = format_duration(max(item.due_at - now, timedelta(minutes=1)))
    who = " or ".join(item.roles) or "someone on the team"
    return f"Reminder: {item.label} is due at {show} (in {left}); {who} can act on it now."


def consequence_text(notice: Notice, now: datetime, show: str) -> str:
    item = notice.item
    waited = format_duration(max(now - item.since, timedelta(minutes=1)))
    if notice.kind == "escalate":
        return (
            f"{item.label} passed its deadline ({show}) after waiting {waited}; escalated to "
            f"{item.deadline.escalate}. {' or '.join(item.roles) or 'The team'} can still act on it."
        )
    if notice.kind == "hold":
        return (
            f"{item.label} passed its deadline ({show}) after waiting {waited}; "
            "the run is held until someone resumes it."
        )
    return f"{item.label} missed its deadline ({show}) after waiting {waited}; it is marked missed in the report."


def report_lines(entries: Sequence[AuditEntry]) -> list[str]:
    """The escalations, holds and misses as the daily report says them ("day2.1 production
    approval waited 3h10m; escalated to manager at 11:00"), oldest first."""
    wanted = {AUDIT_KIND["escalate"], AUDIT_KIND["hold"], AUDIT_KIND["fail"]}
    return [e.detail for e in sorted(entries, key=lambda e: e.at) if e.kind in wanted and e.detail]
