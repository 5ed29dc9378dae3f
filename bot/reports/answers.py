"""The on-demand answers that are not whole reports: `/ion metrics` and `/ion record` (`/ion cost` is the
engine's bot/engine/cost_recording.py, `/ion scaling` is bot/reports/scaling_rules.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.engine.ports import Actor
from bot.engine.report_data import metric_lines
from bot.engine.report_model import MetricLine
from bot.reports.facts import FactBook
from bot.reports.gather import ReportGatherer
from bot.reports.render import format_value
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


class MetricsAnswer:
    """`/ion metrics`: production's metrics now against baseline and target; reads through the shared gatherer."""

    def __init__(self, bot: Bot, gather: ReportGatherer) -> None:
        self.bot = bot
        self.gather = gather
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)

    async def metrics(self, channel: str, actor: Actor) -> dict[str, Any]:
        run = await self.bot.rollout.active_run(channel)
        dry_run = bool(self.bot.settings.dry_run or (run is not None and run.dry_run))
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


class FactRecording:
    """`/ion record ITEM VALUE [NOTE]` for the run of the channel (``FactBook`` checks and keeps it)."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.facts = FactBook(bot)

    async def record(self, channel: str, item: str, value: str, note: str | None, actor: Actor) -> str:
        run = await self.bot.rollout.require_run(channel)
        return await self.facts.record(run.id, item, value, note, actor)
