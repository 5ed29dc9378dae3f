"""Posts the scheduled reports and answers the on-demand report commands.

``ReportService`` is both the scheduler's ``ScheduleCallbacks`` and the Slack handlers'
``ReportsPort``. It gathers (bot/reports/gather.py), builds (bot/engine/report_data.py),
renders (templates/) and hands the result to a ``ReportPoster``; every scheduled post carries
``dedupe_key = job:run:day`` so a retried post never shows twice. A scheduled job whose run is
no longer open (finished or abandoned, perhaps on another replica) posts nothing.

A report asked for on demand stands at its own scheduled time once that has passed: Day 2's report
asked for on Day 4 is rebuilt from the store's history as it stood at 17:00 on Day 2 (``AsOf``). Before
that time it is today's report "so far", and a day that has not come yet has no report.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, replace
from datetime import datetime, time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from bot.actions.scaling_schedule import apply_scaling_rules, current_rule, settings_key, show_rules
from bot.engine.calendar import RunCalendar
from bot.engine.errors import Refused
from bot.engine.ports import JSON, Actor
from bot.engine.records import OPEN_RUN_STATES, Run
from bot.engine.report_data import daily_report, final_report, metric_lines, phase_summary, standup_digest
from bot.reports.charts import metrics_chart_png
from bot.reports.context import Report, render_report
from bot.reports.gather import ReportGatherer, ReportInputs, bills_key
from bot.reports.render import ReportRenderer, format_usd, format_value
from bot.runbook.models import service_key
from bot.runbook.suggest import did_you_mean
from bot.scheduler import JobSkipped
from bot.slack.limits import MESSAGE_BLOCKS as BLOCK_LIMIT
from bot.slack.limits import SECTION_TEXT as SECTION_LIMIT
from bot.slack.limits import split_text
from bot.slack.mrkdwn import Mrkdwn

if TYPE_CHECKING:
    from bot.bootstrap import Bot

log = structlog.get_logger(__name__)


class ReportPoster(Protocol):
    """Where reports go: Slack (through the outbox), the console, or a test's recorder."""

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None, dedupe_key: str) -> None:
        """Post once per ``dedupe_key``; a second call with the same key changes nothing."""
        ...

    async def upload(self, channel: str, filename: str, content: bytes, title: str) -> str:
        """Store a file for the channel; returns a permalink or a local path to mention in the text."""
        ...


def section_blocks(text: str) -> list[dict[str, Any]]:
    """mrkdwn text as section blocks of at most 3000 characters, split at line ends."""
    chunks = split_text(text.rstrip("\n"), SECTION_LIMIT)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks if c.strip()]
    return blocks[:BLOCK_LIMIT]


@dataclass(frozen=True)
class AsOf:
    """The moment a report stands at: ``replay`` rebuilds it from the history (a past report time);
    ``so_far`` marks a day still under way (now, before its report time)."""

    at: datetime
    replay: bool = False
    so_far: bool = False


class ReportService:
    """Gathers, builds, renders and posts; one per process, sharing the bot's store and clock."""

    def __init__(self, bot: Bot, poster: ReportPoster, renderer: ReportRenderer | None = None) -> None:
        self.bot = bot
        self.poster = poster
        self.renderer = renderer or ReportRenderer()
        self.gather = ReportGatherer(bot)
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)

    # --- scheduled jobs (ScheduleCallbacks) --------------------------------------------------------

    async def post_daily_report(self, run_id: str, day: int, late: bool) -> None:
        run = await self._run(run_id)
        due = self._due(run, day, self.bot.runbook.schedule.daily_report_at)
        await self._daily(run, day, late, due, f"daily_report:{run.id}:{day}")

    async def post_standup(self, run_id: str, standup_name: str, day: int, late: bool) -> None:
        run = await self._run(run_id)
        standup = next((s for s in self.bot.runbook.schedule.standups if s.name == standup_name), None)
        if standup is None:
            raise ValueError(f"the runbook has no standup called {standup_name!r}")
        local = datetime.combine(RunCalendar(self.bot.runbook, run.start_date).date_of(day), standup.at)
        due = local.replace(tzinfo=ZoneInfo(standup.timezone))
        await self._standup(run, day, standup.name, standup.channel or run.channel, late, due)

    async def post_gate_reminder(self, run_id: str, gate_id: str, late: bool) -> None:
        run = await self._run(run_id)
        gate = self.bot.runbook.gate(gate_id)
        if gate is None:
            raise ValueError(f"the runbook has no gate {gate_id!r}")
        record = await self.bot.store.get_gate(run.id, gate.id)
        if record is not None and record.decision is not None:
            said = f"already decided {record.decision.upper()} by {record.decided_by_name or record.decided_by}"
        else:
            said = "not decided yet"
        text = (
            f":vertical_traffic_light: *{gate.title}* is due now ({gate.at:%H:%M}); it is {said}. "
            f"Open it with `/ion gonogo {gate.id}`."
        )
        due = self._due(run, gate.day, gate.at)
        await self._post(run.channel, self._late_note(late, due) + text, f"gate:{gate.id}:{run.id}:{gate.day}")

    async def post_phase_summary(self, run_id: str, day: int, late: bool) -> None:
        run = await self._run(run_id)
        due = self._due(run, day, self.bot.runbook.schedule.daily_report_at)
        await self._phase_summary(run, day, late, due, f"phase_summary:{run.id}:{day}", AsOf(self.bot.clock.now()))

    async def post_final_report(self, run_id: str, day: int, late: bool) -> None:
        run = await self._run(run_id)
        due = self._final_due(run, day)
        await self._final(run, day, late, due, f"final_report:{run.id}:{day}", AsOf(self.bot.clock.now()))

    async def post_missed_report(self, run_id: str, kind: str, day: int, text: str) -> None:
        run = await self._run(run_id)
        await self._post(run.channel, f":warning: {text}", f"missed:{kind}:{run.id}:{day}")

    async def apply_scaling_rules(self, run_id: str, at: datetime) -> None:
        """Follow the stored time-of-day rules; post only when something changed (or could not)."""
        run = await self._run(run_id)
        changes = await apply_scaling_rules(self.bot.deps, self.bot.runbook, at)
        if not changes:
            return
        local = at.astimezone(self.zone)
        lines = "\n".join(f"- {line}" for line in changes)
        text = f":gear: Scaling rules at {local:%H:%M} ({self.bot.runbook.calendar.timezone}):\n{lines}"
        await self._post(run.channel, text, f"scaling:{run.id}:{at:%Y-%m-%dT%H:%M}")

    async def watch_triggers(self, run_id: str, at: datetime) -> None:
        run = await self._run(run_id)
        await self.bot.watcher.poll(run.id, run.channel, await self.bot.latest_production_step(run.id))

    # --- on demand (the Slack handlers' ReportsPort) ------------------------------------------------

    async def daily_report(self, channel: str, day: int | None, actor: Actor) -> None:
        """The day's report as its 5 PM post said it (or "so far" today), with the phase summary or the
        final report too on their day: the missed-report notices send people here for those."""
        run = await self.bot.rollout.require_run(channel)
        number = self._day_or_today(run, day)
        schedule = self.bot.runbook.schedule
        stamp = f"{self.bot.clock.now():%Y%m%dT%H%M%S.%f}"
        as_of = self._as_of(self._due(run, number, schedule.daily_report_at))
        await self._daily(run, number, False, None, f"report:{run.id}:{number}:{stamp}", as_of)
        if number == schedule.summary_day:
            await self._phase_summary(run, number, False, None, f"report:{run.id}:{number}:summary:{stamp}", as_of)
        if number == schedule.final_report_day:
            final_as_of = self._as_of(self._final_due(run, number))
            await self._final(run, number, False, None, f"report:{run.id}:{number}:final:{stamp}", final_as_of)

    async def standup(self, channel: str, actor: Actor) -> None:
        run = await self.bot.rollout.require_run(channel)
        day = self._day_or_today(run, None)
        now = self.bot.clock.now()
        await self._standup(run, day, "on demand", channel, False, None, f"{now:%Y%m%dT%H%M%S.%f}")

    async def metrics(self, channel: str, actor: Actor) -> dict[str, Any]:
        now = self.bot.clock.now()
        lines = metric_lines(self.bot.runbook, await self.gather.metrics(now))
        mark = {"met": ":white_check_mark:", "not met": ":x:", "unknown": ":grey_question:"}
        rows = [
            f"{mark[m.status]} *{m.label}*: {format_value(m.now, m.unit)} "
            f"(baseline {format_value(m.baseline, m.unit)}, target {format_value(m.target, m.unit)})"
            for m in lines
        ]
        local = now.astimezone(self.zone)
        title = f"Metrics now ({local:%a %H:%M} {self.bot.runbook.calendar.timezone}, production)"
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title[:150]}}]
        blocks += section_blocks("\n".join(rows) or "No metrics are defined in the runbook.")
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "Mean of the last 15 minutes; no data is never healthy."}],
            }
        )
        return {"text": title + "\n" + "\n".join(rows), "blocks": blocks}

    async def record_cost(self, channel: str, service: str, amount: Any, actor: Actor) -> str:
        run = await self.bot.rollout.require_run(channel)
        targets = self.bot.runbook.targets.cost
        match = next((t for t in targets if service_key(t.service) == service_key(service)), None)
        if match is None:
            names = [t.service.lower().replace(" ", "-") for t in targets]
            hint = did_you_mean(service.lower(), names) or "."
            raise Refused(
                f"There is no service {service!r} in the runbook's cost targets{hint} "
                f"The services are: {', '.join(names) or 'none'}. No cost was recorded."
            )
        usd = _positive_usd(amount)
        now = self.bot.clock.now()
        bill: dict[str, JSON] = {
            "service": match.service,
            "monthly_usd": usd,
            "recorded_at": now.isoformat(),
            "by": actor.name,
        }
        await self.bot.store.append_value(bills_key(run.id), bill)  # two bills at once: both kept
        await self.bot.rollout.ctx.auditor.record(
            actor, "record cost", run_id=run.id, detail=f"{match.service} {format_usd(usd)}/month"
        )
        return (
            f"Recorded {match.service} at {format_usd(usd)}/month (by {actor.name}); baseline "
            f"{format_usd(match.current_usd)}, target {format_usd(match.target_usd)}. The next report shows it."
        )

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

    # --- internals ------------------------------------------------------------------------------

    async def _run(self, run_id: str) -> Run:
        """The run of a scheduled job, read fresh: it may have been closed since it was scheduled."""
        run = await self.bot.store.get_run(run_id)
        if run is None:
            raise JobSkipped(f"run {run_id} no longer exists")
        if run.state not in OPEN_RUN_STATES:
            raise JobSkipped(f"run {run_id} is {run.state.value}")
        return run

    def _due(self, run: Run, day: int, at: time) -> datetime:
        on = RunCalendar(self.bot.runbook, run.start_date).date_of(day)
        return datetime.combine(on, at, self.zone)

    def _final_due(self, run: Run, day: int) -> datetime:
        schedule = self.bot.runbook.schedule
        return self._due(run, day, schedule.final_report_at or schedule.daily_report_at)

    def _day_or_today(self, run: Run, day: int | None) -> int:
        calendar = RunCalendar(self.bot.runbook, run.start_date)
        last = self.bot.runbook.calendar.working_days
        today = self.bot.clock.now().astimezone(self.zone).date()
        past = [n for n in range(1, last + 1) if calendar.date_of(n) <= today]
        if day is not None:
            if not 1 <= day <= last:
                raise Refused(f"This run has days 1 to {last}, so there is no Day {day} report. Nothing was posted.")
            if calendar.date_of(day) > today:
                hint = f" `/ion report` shows Day {past[-1]} so far." if past else ""
                raise Refused(  # the bot's own words only, with its `code`: posted as they are
                    Mrkdwn(
                        f"Day {day} is {calendar.date_of(day):%a %d %b}, which has not come yet, so there is no "
                        f"Day {day} report. Nothing was posted.{hint}"
                    )
                )
            return day
        if not past:
            raise Refused(
                f"The run starts on {calendar.date_of(1):%a %d %b}, so there is no report yet. "
                "Nothing was posted; try again on Day 1."
            )
        return past[-1]

    def _as_of(self, due: datetime) -> AsOf:
        """An on-demand report stands at its scheduled time once that has passed, else now, so far."""
        now = self.bot.clock.now()
        return AsOf(due, replay=True) if now >= due else AsOf(now, so_far=True)

    def _titled(self, report: Report, as_of: AsOf) -> Report:
        """Say in the title when an on-demand report stands: so far today, or at a past report time."""
        local = as_of.at.astimezone(self.zone)
        if as_of.so_far:
            return replace(report, title=f"{report.title} (so far, at {local:%H:%M})")
        if as_of.replay:
            return replace(report, title=f"{report.title} (as of {local:%a %d %b %H:%M})")
        return report

    def _late_note(self, late: bool, due: datetime | None) -> str:
        if not late or due is None:
            return ""
        posted = self.bot.clock.now().astimezone(due.tzinfo)
        return f"_(late: posted {posted:%H:%M}, due {due:%H:%M})_\n"

    async def _daily(
        self, run: Run, day: int, late: bool, due: datetime | None, dedupe_key: str, as_of: AsOf | None = None
    ) -> None:
        when = as_of or AsOf(self.bot.clock.now())
        inputs = await self.gather.inputs(run, day, day, when.at, replay=when.replay)
        report = self._titled(daily_report(self.bot.runbook, day, *inputs.common(), late=late), when)
        chart = await self._chart(run, day, report.title, when.at)
        await self._post_report(run, report, late, due, dedupe_key, _tail(inputs, chart))

    async def _phase_summary(
        self, run: Run, day: int, late: bool, due: datetime | None, dedupe_key: str, as_of: AsOf
    ) -> None:
        phase = next((p for p in self.bot.runbook.phases if p.first_day <= day <= p.last_day), None)
        first = phase.first_day if phase else 1
        inputs = await self.gather.inputs(run, first, day, as_of.at, replay=as_of.replay)
        decisions = await self.gather.decisions(run.id, inputs.history)
        quality = await self.gather.quality(run, as_of.at, inputs.history)
        report = phase_summary(self.bot.runbook, day, *inputs.common(), decisions, quality, late=late)
        await self._post_report(run, self._titled(report, as_of), late, due, dedupe_key, _tail(inputs))

    async def _final(self, run: Run, day: int, late: bool, due: datetime | None, dedupe_key: str, as_of: AsOf) -> None:
        inputs = await self.gather.inputs(run, 1, day, as_of.at, replay=as_of.replay)
        decisions = await self.gather.decisions(run.id, inputs.history)
        quality = await self.gather.quality(run, as_of.at, inputs.history)
        report = final_report(self.bot.runbook, day, *inputs.common(), decisions, quality, late=late)
        await self._post_report(run, self._titled(report, as_of), late, due, dedupe_key, _tail(inputs))

    async def _standup(
        self, run: Run, day: int, name: str, channel: str, late: bool, due: datetime | None, stamp: str = ""
    ) -> None:
        now = self.bot.clock.now()
        inputs = await self.gather.inputs(run, max(1, day - 1), max(1, day - 1), now)
        yesterday = inputs.outcomes if day > 1 else ()
        unticked = await self.gather.unticked(run, [day])
        report = standup_digest(
            self.bot.runbook,
            day,
            name,
            yesterday,
            inputs.metrics,
            inputs.alerts,
            inputs.pending,
            unticked,
            inputs.ledger,
            late=late,
        )
        key = f"standup:{name}:{run.id}:{day}" + (f":{stamp}" if stamp else "")
        text = self._late_note(late, due) + render_report(self.renderer, report)
        await self._post(channel, text, key)

    async def _chart(self, run: Run, day: int, title: str, now: datetime) -> str | None:
        """Upload the day's chart; a failure is logged and named in the report, never fatal."""
        try:
            series = await self.gather.chart_series(run, day, now)
            # Half a second of drawing: in a worker thread, so Slack's acks are not kept waiting.
            png = await asyncio.to_thread(metrics_chart_png, f"{title}: key metrics", series)
            where = await self.poster.upload(run.channel, f"day{day}-metrics.png", png, f"{title}: key metrics")
        except Exception as error:
            log.exception("report chart failed", run_id=run.id, day=day)
            return f"_(the metrics chart could not be attached: {type(error).__name__}: {error})_"
        return f"Metrics chart: {where}"

    async def _post_report(
        self, run: Run, report: Report, late: bool, due: datetime | None, dedupe_key: str, tail: str | None = None
    ) -> None:
        text = self._late_note(late, due) + render_report(self.renderer, report)
        if tail:
            text = text.rstrip("\n") + "\n\n" + tail + "\n"
        await self._post(run.channel, text, dedupe_key)

    async def _post(self, channel: str, text: str, dedupe_key: str) -> None:
        await self.poster.post(channel, text, section_blocks(text), dedupe_key)


def _tail(inputs: ReportInputs, chart: str | None = None) -> str | None:
    """The lines after a report: what a rebuilt report could not reconstruct, then the chart."""
    lines = [f"_(Not rebuilt for that time: {note})_" for note in inputs.notes]
    if chart:
        lines.append(chart)
    return "\n".join(lines) or None


def _positive_usd(amount: Any) -> float:
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
