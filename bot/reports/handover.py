"""What the reports say about the night: the 5 PM report's **Armed tonight** (and its I have it
button), the day's deadline lines, and the morning standup's **Overnight**.

Read from the store as it stands (lanes, alerts, the typed audit) so the same words reach Slack,
the console and the simulated week; nothing here changes anything.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.engine.audit_kinds import AuditKind
from bot.engine.calendar import RunCalendar
from bot.engine.deadlines import report_lines
from bot.engine.records import Run, StepState
from bot.engine.triggers import step_watches, watch_ends
from bot.reports.escape import mrkdwn
from bot.runbook.durations import format_duration

if TYPE_CHECKING:
    from bot.bootstrap import Bot

HANDOVER_ACTION = "ion:handover:accept"  # the I have it button's action id (bot/slack/listeners/oncall.py)
NIGHT_KINDS = (
    AuditKind.DEADLINE_HOLD,
    AuditKind.ESCALATED,
    AuditKind.DEADLINE_MISSED,
    AuditKind.HANDOVER_ACCEPTED,
    AuditKind.HANDOVER_FALLBACK,
    AuditKind.RUN_STATE,
    AuditKind.STEP_STATE,
)


class HandoverReport:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    def _local(self, at: datetime) -> datetime:
        return at.astimezone(self.bot.rollout.zone)

    async def deadline_section(self, run: Run, day: int) -> str:
        """The day's escalations, holds and misses ("day2.1 production approval waited 3h10m; ...")."""
        on = RunCalendar(self.bot.runbook, run.start_date).date_of(day)
        kinds = (AuditKind.ESCALATED, AuditKind.DEADLINE_HOLD, AuditKind.DEADLINE_MISSED)
        entries = [e for e in await self.bot.store.audit_history(run.id, kinds=kinds) if self._local(e.at).date() == on]
        lines = report_lines(entries)
        return "*Deadlines*\n" + "\n".join(f"- {mrkdwn(line)}" for line in lines) if lines else ""

    async def armed_tonight(self, run: Run, at: datetime) -> str:
        """Triggers armed and on what, automatic rollbacks and their delay, windows still running,
        the rollback command of each production change of the day, who is on call."""
        runbook, lanes = self.bot.runbook, await self.bot.store.lanes(run.id)
        lines = ["*Armed tonight*"]
        for trigger in runbook.triggers:
            delay = trigger.auto_rollback_after or runbook.auto_rollback_after
            then = f"rolls back automatically after {format_duration(delay)}" if delay else "alerts only"
            lines.append(
                f"- {mrkdwn(trigger.title)} on {trigger.environment}: `{mrkdwn(trigger.condition.text)}`; {then}"
            )
        for watch in step_watches(runbook, lanes, set(), at):
            if watch.watching:
                lane = next(x for x in lanes if x.step_id == watch.step_id and x.state is StepState.DONE)
                ends = watch_ends(runbook, lane.changed_at or at)
                condition = mrkdwn(watch.trigger.condition.text)
                lines.append(
                    f"- {watch.step_id} rollback_if on {watch.trigger.environment}: `{condition}` "
                    f"until {self._local(ends):%a %H:%M}; alerts only"
                )
        if len(lines) == 1:
            lines.append("- no rollback triggers are armed")
        for lane in lanes:
            step = runbook.step(lane.step_id)
            if lane.state is StepState.VERIFYING and step and step.verification and lane.changed_at:
                ends = lane.changed_at + step.verification.window
                lines.append(f"- {lane.step_id} ({lane.environment}) verification runs until {self._local(ends):%H:%M}")
        today = self._local(at).date()
        changed = [
            lane
            for lane in lanes
            if lane.state is StepState.DONE
            and self.bot.rollout.is_production(lane.environment)
            and lane.changed_at is not None
            and self._local(lane.changed_at).date() == today
        ]
        for lane in changed:
            lines.append(f"- to undo {lane.step_id} in {lane.environment}: `/ion rollback {lane.step_id}`")
        lines.append(f"- on call: {await self._on_call()}")
        lines.append(await self._ask(run, at))
        return "\n".join(lines)

    async def _on_call(self) -> str:
        handover = getattr(self.bot, "handover", None)
        if handover is not None:
            names = [_shown(p.user_id, p.name) for p in await handover.on_call()]
        else:
            role = self.bot.runbook.handover.role if self.bot.runbook.handover else "sre_oncall"
            names = [_shown(i, i) for i in sorted(self.bot.rollout.policy.members.get(role, frozenset()))]
        return ", ".join(names) or "nobody holds the role"

    async def _ask(self, run: Run, at: datetime) -> str:
        plan = self.bot.runbook.handover
        if plan is None:
            return "_(no handover block in the runbook: nobody is asked to accept the night)_"
        fallback = {
            "shorten_hold": f"automatic rollbacks wait at most {format_duration(plan.hold)} for a Hold",
            "page_secondary": f"the secondary ({plan.secondary}) is paged",
            "pause_auto_advance": "the run is paused",
        }[plan.fallback]
        return (
            f"On call, press *I have it* by {plan.deadline:%H:%M}; "
            f"if nobody does, {fallback} until {plan.until:%H:%M} tomorrow."
        )

    def button(self, run: Run) -> list[dict[str, Any]]:
        if self.bot.runbook.handover is None:
            return []
        button = {
            "type": "button",
            "action_id": HANDOVER_ACTION,
            "value": run.id,
            "style": "primary",
            "text": {"type": "plain_text", "text": "I have it"},
        }
        return [{"type": "actions", "block_id": "handover", "elements": [button]}]

    async def overnight(self, run: Run, at: datetime, since: datetime) -> str:
        """What happened between ``since`` (last evening's report) and ``at``: alerts, holds,
        rollbacks, pages and who answered, from the alerts and the typed audit."""
        lines: list[str] = []
        for alert in await self.bot.store.alerts(run.id):
            if since <= alert.opened_at < at:
                who = f"; answered by {alert.acknowledged_by}" if alert.acknowledged_by else "; nobody answered"
                state = "resolved" if alert.resolved_at and alert.resolved_at < at else alert.state
                lines.append(f"- {self._local(alert.opened_at):%a %H:%M} alert: {mrkdwn(alert.message)} ({state}{who})")
        for entry in await self.bot.store.audit_history(run.id, kinds=NIGHT_KINDS, outcome="ok"):
            if not since <= entry.at < at:
                continue
            if entry.kind is AuditKind.STEP_STATE and entry.after not in (StepState.ROLLED_BACK, "rolled_back"):
                continue
            if entry.kind is AuditKind.RUN_STATE and entry.after != "held":
                continue
            what = entry.detail or f"{entry.step_id or 'the run'} {entry.after}"
            lines.append(
                f"- {self._local(entry.at):%a %H:%M} {entry.kind.value}: {mrkdwn(what)} ({mrkdwn(entry.actor_name)})"
            )
        if not lines:
            return "*Overnight*: quiet (no alerts, holds, rollbacks or pages)."
        return "*Overnight*\n" + "\n".join(sorted(lines))

    def since_last_evening(self, run: Run, day: int) -> datetime:
        """The previous run day's report time (the weekend included), else a day before."""
        calendar = RunCalendar(self.bot.runbook, run.start_date)
        at = self.bot.runbook.schedule.daily_report_at
        if day > 1:
            return calendar.at(calendar.date_of(day - 1), at)
        return calendar.at(calendar.date_of(day), at) - timedelta(days=1)


def _shown(user_id: str, name: str) -> str:
    """A person as Slack shows them: their name, else a mention Slack turns into it (a group's too)."""
    if name != user_id:
        return mrkdwn(name)
    return f"<!subteam^{user_id}>" if user_id.startswith("S") else f"<@{user_id}>"
