"""The time-of-day scaling rules that a ``scaling.schedule`` step stored: followed every hour, and shown.

``ScalingRules`` is the hourly job's body: it applies the rule in force (bot/actions/scaling_schedule.py),
keeps each change for the daily report's once-a-day summary (``ScalingLog``) and, with
``scaling_posts: hourly``, posts the changes as well. ``ScalingStatus`` answers `/ion scaling`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.actions.scaling_schedule import apply_scaling_rules, current_rule, settings_key, show_rules
from bot.engine.ports import Actor
from bot.engine.records import Run
from bot.reports.publisher import ReportPublisher
from bot.reports.scaling_log import ScalingLog

if TYPE_CHECKING:
    from bot.bootstrap import Bot


class ScalingRules:
    """Follows the stored rules for one process; posts through the report publisher."""

    def __init__(self, bot: Bot, publisher: ReportPublisher, log: ScalingLog) -> None:
        self.bot = bot
        self.publisher = publisher
        self.log = log
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)

    async def apply(self, run: Run, at: datetime) -> None:
        """Follow the stored time-of-day rules. Changes are kept for the daily report's once-a-day
        summary; with ``scaling_posts: hourly`` each change (or failure) is posted as well."""
        changes = await apply_scaling_rules(self.bot.deps, self.bot.runbook, at)
        if not changes:
            return
        await self.log.record(run.id, at, changes)
        if self.bot.runbook.schedule.scaling_posts != "hourly":
            return
        local = at.astimezone(self.zone)
        shown = "\n".join(f"- {line}" for line in changes)
        text = f":gear: Scaling rules at {local:%H:%M} ({self.bot.runbook.calendar.timezone}):\n{shown}"
        await self.publisher.post(run.channel, text, f"scaling:{run.id}:{at:%Y-%m-%dT%H:%M}")


class ScalingStatus:
    """`/ion scaling`: every service's stored rules and the one in force now, in the rule's own zone."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def scaling(self, channel: str, actor: Actor) -> str:
        now = self.bot.clock.now()
        lines: list[str] = []
        for environment in self.bot.runbook.environments:
            for service in self.bot.runbook.services:
                rule_set = await self.bot.store.get_value(settings_key(environment.name, service.name))
                if not isinstance(rule_set, dict) or not rule_set:
                    continue
                rule = current_rule(rule_set, now)
                local = now.astimezone(ZoneInfo(rule_set["timezone"]))
                regions = ", ".join(rule_set.get("regions", []))
                lines.append(
                    f"*{service.name}* ({environment.name}: {regions}): {show_rules(rule_set)}. "
                    f"In force now ({local:%H:%M} {rule_set['timezone']}): {rule['name']}, "
                    f"min {rule['min_instances']} / max {rule['max_instances']}."
                )
        if not lines:
            return (
                "No time-of-day scaling rules are active: no scaling.schedule step has run yet "
                "(or it was rolled back). Instance counts stay as they are."
            )
        return "\n".join(lines)
