"""Builds the daily report, the phase summary and the final report, and posts (and emails) them.

It gathers (bot/reports/gather.py), builds (bot/engine/report_data.py), renders (templates/) and
hands the text to a ``ReportPoster`` under the caller's ``dedupe_key``, so a retried post never shows
twice. Whether and when to post is the caller's: the scheduled jobs (bot/reports/jobs.py) or a
command (bot/reports/on_demand.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from bot.engine.records import Run
from bot.engine.report_data import ReportExtras, daily_report, final_report, phase_summary
from bot.reports.answers import section_blocks
from bot.reports.chart_reuse import daily_chart_png
from bot.reports.chart_worker import ChartWorker, shared_worker
from bot.reports.context import Report, render_report
from bot.reports.emailing import ReportEmailer
from bot.reports.facts import FactBook, manual_targets, slug
from bot.reports.gather import ReportGatherer, ReportInputs
from bot.reports.gather_extras import ExtrasGatherer
from bot.reports.handover import HandoverReport
from bot.reports.ports import ReportPoster
from bot.reports.render import ReportRenderer
from bot.reports.scaling_log import ScalingLog
from bot.reports.timing import AsOf, ReportTimes
from bot.runbook.models import Runbook
from bot.slack.blocks.record_fact import record_buttons
from bot.web.links import report_footer

if TYPE_CHECKING:
    from bot.bootstrap import Bot

log = structlog.get_logger(__name__)


class ReportPublisher:
    """One per process; shares the gatherers with the standup poster and the scheduled jobs."""

    def __init__(
        self,
        bot: Bot,
        poster: ReportPoster,
        renderer: ReportRenderer,
        gather: ReportGatherer,
        emailer: ReportEmailer,
        times: ReportTimes,
        charts: ChartWorker | None = None,
    ) -> None:
        self.bot = bot
        self.poster = poster
        self.renderer = renderer
        self.gather = gather
        self.emailer = emailer
        self.times = times
        self.charts = charts if charts is not None else shared_worker()
        self.extras = ExtrasGatherer(bot)
        self.scaling_log = ScalingLog(bot)
        self.facts = FactBook(bot)
        self.night = HandoverReport(bot)

    @property
    def runbook(self) -> Runbook:
        """Read on every use: the bot's runbook may be replaced while the process runs (tests do)."""
        return self.bot.runbook

    def dry(self, run: Run | None) -> bool:
        return bool(self.bot.settings.dry_run or (run is not None and run.dry_run))

    async def daily(
        self, run: Run, day: int, late: bool, due: datetime | None, dedupe_key: str, as_of: AsOf, email: bool = False
    ) -> None:
        """The day's report with its chart and the Record buttons of the targets nobody recorded yet."""
        inputs = await self.gather.inputs(run, day, day, as_of.at, replay=as_of.replay)
        extras = await self._day_extras(run, day, as_of.at)
        extras = replace(extras, decisions=tuple(await self.gather.decisions(run.id, inputs.history)))
        built = daily_report(self.runbook, day, *inputs.common(), late=late, extras=extras)
        report = self.times.titled(built, as_of)
        chart, png = await self._chart(run, day, report.title, as_of.at)
        buttons = record_buttons(run.id, await self._unrecorded(run))
        night = [await self.night.deadline_section(run, day), await self.night.armed_tonight(run, as_of.at)]
        if not as_of.replay and not as_of.so_far:  # the scheduled 5 PM post asks on-call to accept the night
            buttons = buttons + self.night.button(run)
        tail = "\n\n".join(part for part in [_tail(inputs, chart), *night] if part)
        text = await self._post_report(run, report, late, due, dedupe_key, tail, buttons)
        if email:
            await self.emailer.send(run, dedupe_key, report.title, text, png)

    async def phase_summary(
        self, run: Run, day: int, late: bool, due: datetime | None, dedupe_key: str, as_of: AsOf, email: bool = False
    ) -> None:
        phase = next((p for p in self.runbook.phases if p.first_day <= day <= p.last_day), None)
        first = phase.first_day if phase else 1
        await self._span_report(phase_summary, run, first, day, late, due, dedupe_key, as_of, email)

    async def final(
        self, run: Run, day: int, late: bool, due: datetime | None, dedupe_key: str, as_of: AsOf, email: bool = False
    ) -> None:
        await self._span_report(final_report, run, 1, day, late, due, dedupe_key, as_of, email)

    async def post(self, channel: str, text: str, dedupe_key: str, buttons: list[dict[str, Any]] | None = None) -> None:
        await self.poster.post(channel, text, section_blocks(text) + (buttons or []), dedupe_key)

    async def _span_report(
        self,
        build: Callable[..., Report],
        run: Run,
        first: int,
        day: int,
        late: bool,
        due: datetime | None,
        dedupe_key: str,
        as_of: AsOf,
        email: bool,
    ) -> None:
        """A report over days ``first``..``day`` (a phase summary, the final report): posted, then emailed."""
        inputs = await self.gather.inputs(run, first, day, as_of.at, replay=as_of.replay)
        decisions = await self.gather.decisions(run.id, inputs.history)
        quality = await self.gather.quality(run, as_of.at, inputs.history)
        extras = await self._span_extras(run, first, day, as_of.at)
        report = build(self.runbook, day, *inputs.common(), decisions, quality, late=late, extras=extras)
        text = await self._post_report(run, self.times.titled(report, as_of), late, due, dedupe_key, _tail(inputs))
        if email:
            await self.emailer.send(run, dedupe_key, report.title, text, None)

    async def _day_extras(self, run: Run, day: int, at: datetime) -> ReportExtras:
        moves = await self.gather.lane_moves(run)
        last = min(day + 1, self.runbook.calendar.working_days)
        return ReportExtras(
            step_metrics=await self.extras.step_metrics([day], at),
            blocked=self.extras.blocked(moves, at, range(1, last + 1)),
            reasons=await self.extras.reasons(run, moves, at),
            scaling=await self._scaling_summary(run, day, at),
            dry_run=self.dry(run),
            window=self.times.window(at),
        )

    async def _span_extras(self, run: Run, first: int, day: int, at: datetime) -> ReportExtras:
        moves = await self.gather.lane_moves(run)
        last = self.runbook.calendar.working_days
        return ReportExtras(
            changes=await self.extras.changes(run, moves, at, first, day),
            blocked=self.extras.blocked(moves, at, range(1, last + 1)),
            reasons=await self.extras.reasons(run, moves, at),
            dry_run=self.dry(run),
            window=self.times.window(at),
        )

    async def _scaling_summary(self, run: Run, day: int, at: datetime) -> tuple[str, ...]:
        """The scaling changes since the previous run day's report (weekends too) up to ``at``."""
        since = self.times.daily_due(run, day - 1) if day > 1 else None
        first = since.date() if since is not None else self.times.date_of(run, day)
        return await self.scaling_log.since(run.id, since, first, at)

    async def _unrecorded(self, run: Run) -> list[tuple[str, str]]:
        """The quality targets recorded by hand that nobody has recorded yet: (id, label) for their buttons."""
        recorded = {fact.label for fact in await self.facts.facts(run.id, self.bot.clock.now())}
        return [(slug(t.label), t.label) for t in manual_targets(self.runbook) if t.label not in recorded]

    async def _chart(self, run: Run, day: int, title: str, now: datetime) -> tuple[str | None, bytes | None]:
        """Upload the day's chart; a failure is logged and named in the report, never fatal."""
        try:
            series = await self.gather.chart_series(run, day, now)
            # Drawn in the chart process (the bot's answers never wait for it), on a kept figure when it can.
            png = await self.charts.draw(daily_chart_png, f"{title}: key metrics", series)
            where = await self.poster.upload(run.channel, f"day{day}-metrics.png", png, f"{title}: key metrics")
        except Exception as error:
            log.exception("report chart failed", run_id=run.id, day=day)
            return f"_(the metrics chart could not be attached: {type(error).__name__}: {error})_", None
        return f"Metrics chart: {where}", png

    async def _post_report(
        self,
        run: Run,
        report: Report,
        late: bool,
        due: datetime | None,
        dedupe_key: str,
        tail: str | None = None,
        buttons: list[dict[str, Any]] | None = None,
    ) -> str:
        text = self.times.late_note(late, due) + render_report(self.renderer, report)
        if tail:
            text = text.rstrip("\n") + "\n\n" + tail + "\n"
        footer = report_footer(self.bot.settings.timeline_url, run.id)  # the run's page in the web timeline
        if footer:
            text = text.rstrip("\n") + "\n\n" + footer + "\n"
        await self.post(run.channel, text, dedupe_key, buttons)
        return text


def _tail(inputs: ReportInputs, chart: str | None = None) -> str | None:
    """The lines after a report: what a rebuilt report could not reconstruct, then the chart."""
    lines = [f"_(Not rebuilt for that time: {note})_" for note in inputs.notes]
    if chart:
        lines.append(chart)
    return "\n".join(lines) or None
