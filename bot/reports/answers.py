"""The on-demand answers that are not whole reports: `/ion metrics`, `/ion cost`, `/ion record`, `/ion scaling`."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.actions.scaling_schedule import current_rule, settings_key, show_rules
from bot.engine.errors import Refused
from bot.engine.ports import JSON, Actor
from bot.engine.report_data import metric_lines
from bot.engine.report_model import MetricLine
from bot.reports.facts import FactBook
from bot.reports.gather import ReportGatherer, bills_key
from bot.reports.render import format_usd, format_value
from bot.runbook.models import service_key
from bot.runbook.suggest import did_you_mean
from bot.slack.blocks.limits import MESSAGE_BLOCKS as BLOCK_LIMIT
from bot.slack.blocks.limits import SECTION_TEXT as SECTION_LIMIT
from bot.slack.blocks.limits import split_text

if TYPE_CHECKING:
    from bot.bootstrap import Bot

MARK = {"met": ":white_check_mark:", "not met": ":x:", "unknown": ":grey_question:"}


def section_blocks(text: str) -> list[dict[str, Any]]:
    """mrkdwn text as section blocks of at most 3000 characters, split at line ends."""
    chunks = split_text(text.rstrip("\n"), SECTION_LIMIT)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks if c.strip()]
    return blocks[:BLOCK_LIMIT]


def metric_row(m: MetricLine) -> str:
    """A metric without a target has no verdict: no ❔ and no "target no data", just its baseline."""
    baseline = f"baseline {format_value(m.baseline, m.unit)}" if m.baseline is not None else "no baseline"
    if m.target is None:
        return f":small_blue_diamond: *{m.label}*: {format_value(m.now, m.unit)} ({baseline}, no target)"
    target = format_value(m.target, m.unit)
    return f"{MARK[m.status]} *{m.label}*: {format_value(m.now, m.unit)} ({baseline}, target {target})"


class Answers:
    """One per ReportService; reads through the same gatherer."""

    def __init__(self, bot: Bot, gather: ReportGatherer) -> None:
        self.bot = bot
        self.gather = gather
        self.facts = FactBook(bot)
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)

    async def metrics(self, dry_run: bool) -> dict[str, Any]:
        now = self.bot.clock.now()
        rows = [metric_row(m) for m in metric_lines(self.bot.runbook, await self.gather.metrics(now))]
        local = now.astimezone(self.zone)
        title = f"Metrics now ({local:%a %H:%M} {self.bot.runbook.calendar.timezone}, production)"
        if dry_run:
            title = f"DRY RUN: {title}"
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
        blocks += section_blocks("\n".join(rows) or "No metrics are defined in the runbook.")
        note = f"Mean of the 15 minutes to {local:%H:%M} (the worst for max metrics); no data is never healthy."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
        return {"text": title + "\n" + "\n".join(rows), "blocks": blocks}

    async def record_cost(self, run_id: str, service: str, amount: Any, actor: Actor) -> str:
        targets = self.bot.runbook.targets.cost
        match = next((t for t in targets if service_key(t.service) == service_key(service)), None)
        if match is None:
            names = [t.service.lower().replace(" ", "-") for t in targets]
            hint = did_you_mean(service.lower(), names) or "."
            raise Refused(
                f"There is no service {service!r} in the runbook's cost targets{hint} "
                f"The services are: {', '.join(names) or 'none'}. No cost was recorded."
            )
        usd = positive_usd(amount)
        now = self.bot.clock.now()
        bill: dict[str, JSON] = {
            "service": match.service,
            "monthly_usd": usd,
            "recorded_at": now.isoformat(),
            "by": actor.name,
        }
        await self.bot.store.append_value(bills_key(run_id), bill)  # two bills at once: both kept
        await self.bot.rollout.note(
            actor, "record cost", run_id=run_id, detail=f"{match.service} {format_usd(usd)}/month"
        )
        saved = format_usd(usd - match.current_usd)
        return (
            f"Recorded {match.service} at {format_usd(usd)}/month (by {actor.name}); baseline "
            f"{format_usd(match.current_usd)}, target {format_usd(match.target_usd)}, so {saved}/month realised. "
            "The next report's realised line shows it."
        )

    async def record(self, run_id: str, item: str, value: str, note: str | None, actor: Actor) -> str:
        return await self.facts.record(run_id, item, value, note, actor)

    async def scaling(self) -> str:
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


def positive_usd(amount: Any) -> float:
    """A monthly amount in dollars from a Decimal, number or "$1,100.50"; refuses zero, negatives and junk."""
    try:
        value = Decimal(str(amount).strip().lstrip("$").replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    usd = float(value)
    if not math.isfinite(usd) or usd <= 0:
        raise Refused(
            f"{amount!s} is not a monthly cost in dollars above zero; write it like 950 or $1,100.50. "
            "No cost was recorded."
        )
    return usd
