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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from bot.actions.scaling_schedule import apply_scaling_rules
from bot.engine.calendar import RunCalendar
from bot.engine.errors import Refused
from bot.engine.ports import Actor, Event
from bot.engine.records import OPEN_RUN_STATES, Run
from bot.engine.report_data import (
    ReportExtras,
    daily_report,
    decision_for,
    final_report,
    phase_summary,
    standup_digest,
)
from bot.reports.answers import Answers, section_blocks
from bot.reports.charts import metrics_chart_png
from bot.reports.context import Report, render_report
from bot.reports.emailing import ReportEmailer
from bot.reports.facts import manual_targets, slug
from bot.reports.gather import READING_WINDOW, LaneMove, ReportGatherer, ReportInputs
from bot.reports.gather_extras import ExtrasGatherer
from bot.reports.handover import HandoverReport
from bot.reports.mail import Mailer, mailer_from_settings
from bot.reports.render import ReportRenderer
from bot.reports.scaling_log import ScalingLog
from bot.reports.standups import StandupDesk
from bot.scheduler import JobSkipped
from bot.slack.blocks.mrkdwn import Mrkdwn
from bot.slack.blocks.record_fact import record_buttons

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

    async def reply(self, channel: str, dedupe_key: str, text: str) -> None:
        """Post ``text`` in the thread of the report posted with ``dedupe_key`` (the channel when unknown)."""
        ...


__all__ = ["AsOf", "ReportPoster", "ReportService", "section_blocks"]


@dataclass(frozen=True)
class AsOf:
    """The moment a report stands at: ``replay`` rebuilds it from the history (a past report time);
    ``so_far`` marks a day still under way (now, before its report time)."""

    at: datetime
    replay: bool = False
    so_far: bool = False


class ReportService:
    """Gathers, builds, renders and posts (and emails); one per process, sharing the bot's store and clock."""

    def __init__(
        self,
        bot: Bot,
        poster: ReportPoster,
        renderer: ReportRenderer | None = None,
        mailer: Mailer | None = None,
    ) -> None:
        self.bot = bot
        self.poster = poster
        self.renderer = renderer or ReportRenderer()
        self.gather = ReportGatherer(bot)
        self.extras = ExtrasGatherer(bot)
        self.desk = StandupDesk(bot)
        self.night = HandoverReport(bot)
        self.scaling_log = ScalingLog(bot)
        self.answers = Answers(bot, self.gather)
        self.emailer = ReportEmailer(bot, poster, mailer if mailer is not None else mailer_from_settings(bot.settings))
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)
        bot.events.subscribe(self._on_event)

    # --- scheduled jobs (ScheduleCallbacks) --------------------------------------------------------

    async def post_daily_report(self, run_id: str, day: int, late: bool) -> None:
        run = await self._run(run_id)
        due = self._due(run, day, self.bot.runbook.schedule.daily_report_at)
        await self._daily(run, day, late, due, f"daily_report:{run.id}:{day}", email=True)

    async def post_standup(self, run_id: str, standup_name: str, day: int, late: bool) -> None:
        run = await self._run(run_id)
        schedule = self.bot.runbook.schedule
        standup = next((s for s in schedule.standups if s.name == standup_name), None)
        if standup is None:
            raise ValueError(f"the runbook has no standup called {standup_name!r}")
        on = RunCalendar(self.bot.runbook, run.start_date).date_of(day)
        first = self.desk.first_slot(on)
        if schedule.standup_posts == "single" and first is not None and first.name != standup.name:
            raise JobSkipped(f"the runbook posts one standup for every zone, at the {first.name} time")
        due = datetime.combine(on, standup.at).replace(tzinfo=ZoneInfo(standup.timezone))
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
        key = f"phase_summary:{run.id}:{day}"
        await self._phase_summary(run, day, late, due, key, AsOf(self.bot.clock.now()), email=True)

    async def post_final_report(self, run_id: str, day: int, late: bool) -> None:
        """At its time when the final decision is made; else a note now and the report when it is made."""
        run = await self._run(run_id)
        due = self._final_due(run, day)
        if not await self._final_decided(run, day):
            gate = decision_for(self.bot.runbook, day, [])
            name = gate.title if gate else "the final decision"
            command = f"`/ion gonogo {gate.gate_id}`" if gate else "the final Go/No-Go"
            text = (
                f":hourglass: The final report waits for *{name}* ({command}): it reports that decision, "
                "so it is posted as soon as the decision is made."
            )
            await self._post(run.channel, self._late_note(late, due) + text, f"final_waiting:{run.id}:{day}")
            return
        await self._final(run, day, late, due, f"final_report:{run.id}:{day}", AsOf(self.bot.clock.now()), email=True)

    async def post_missed_report(self, run_id: str, kind: str, day: int, text: str) -> None:
        run = await self._run(run_id)
        await self._post(run.channel, f":warning: {text}", f"missed:{kind}:{run.id}:{day}")

    async def apply_scaling_rules(self, run_id: str, at: datetime) -> None:
        """Follow the stored time-of-day rules. Changes are kept for the daily report's once-a-day
        summary; with ``scaling_posts: hourly`` each change (or failure) is posted as well."""
        run = await self._run(run_id)
        changes = await apply_scaling_rules(self.bot.deps, self.bot.runbook, at)
        if not changes:
            return
        await self.scaling_log.record(run.id, at, changes)
        local = at.astimezone(self.zone)
        if self.bot.runbook.schedule.scaling_posts != "hourly":
            return
        shown = "\n".join(f"- {line}" for line in changes)
        text = f":gear: Scaling rules at {local:%H:%M} ({self.bot.runbook.calendar.timezone}):\n{shown}"
        await self._post(run.channel, text, f"scaling:{run.id}:{at:%Y-%m-%dT%H:%M}")

    async def watch_triggers(self, run_id: str, at: datetime) -> None:
        run = await self._run(run_id)
        await self.bot.watcher.poll(run.id, run.channel, await self.bot.latest_production_step(run.id))
        if getattr(self.bot, "nudges", None) is not None:
            await self.bot.nudges.pass_once(run)
        if getattr(self.bot, "handover", None) is not None:
            await self.bot.handover.pass_once(run)

    async def retry_emails(self) -> None:
        """The resync tick: another round for report emails that failed."""
        await self.emailer.retry_pending()

    async def _on_event(self, event: Event) -> None:
        """The final decision made after the final report's time: post the final report now (once)."""
        if event.kind != "gate_changed" or event.run_id is None:
            return
        schedule = self.bot.runbook.schedule
        day = schedule.final_report_day
        gate = decision_for(self.bot.runbook, day, []) if day is not None else None
        if day is None or gate is None or event.data.get("gate") != gate.gate_id:
            return
        run = await self.bot.store.get_run(event.run_id)
        if run is None or self.bot.clock.now() < self._final_due(run, day):
            return  # before its time the scheduled job posts it, decided by then
        if not await self._final_decided(run, day):
            return
        local_date = self.bot.clock.now().astimezone(self.zone).date().isoformat()
        if not await self.bot.store.claim_post("final_report:decided", run.id, local_date):
            return
        await self._final(run, day, False, None, f"final_report:{run.id}:{day}", AsOf(self.bot.clock.now()), email=True)

    async def _final_decided(self, run: Run, day: int) -> bool:
        decision = decision_for(self.bot.runbook, day, await self.gather.decisions(run.id))
        return decision is None or decision.state != "pending"

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
        return await self.answers.metrics(self._dry(await self.bot.rollout.active_run(channel)))

    async def record_cost(self, channel: str, service: str, amount: Any, actor: Actor) -> str:
        run = await self.bot.rollout.require_run(channel)
        return await self.answers.record_cost(run.id, service, amount, actor)

    async def record(self, channel: str, item: str, value: str, note: str | None, actor: Actor) -> str:
        run = await self.bot.rollout.require_run(channel)
        return await self.answers.record(run.id, item, value, note, actor)

    async def scaling(self, channel: str, actor: Actor) -> str:
        return await self.answers.scaling()

    # --- internals ------------------------------------------------------------------------------

    async def _run(self, run_id: str) -> Run:
        """The run of a scheduled job, read fresh: it may have been closed since it was scheduled."""
        run = await self.bot.store.get_run(run_id)
        if run is None:
            raise JobSkipped(f"run {run_id} no longer exists")
        if run.state not in OPEN_RUN_STATES:
            raise JobSkipped(f"run {run_id} is {run.state.value}")
        return run

    def _dry(self, run: Run | None) -> bool:
        return bool(self.bot.settings.dry_run or (run is not None and run.dry_run))

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

    def _window(self, at: datetime) -> str:
        minutes = int(READING_WINDOW.total_seconds() // 60)
        return f"{minutes}-min mean to {at.astimezone(self.zone):%a %H:%M}"

    async def _scaling_summary(self, run: Run, day: int, at: datetime) -> tuple[str, ...]:
        """The scaling changes since the previous run day's report (weekends too) up to ``at``."""
        since = self._due(run, day - 1, self.bot.runbook.schedule.daily_report_at) if day > 1 else None
        first = since.date() if since is not None else RunCalendar(self.bot.runbook, run.start_date).date_of(day)
        return await self.scaling_log.since(run.id, since, first, at)

    async def _day_extras(self, run: Run, day: int, at: datetime) -> ReportExtras:
        moves = await self.gather.lane_moves(run)
        last = min(day + 1, self.bot.runbook.calendar.working_days)
        return ReportExtras(
            step_metrics=await self.extras.step_metrics([day], at),
            blocked=self.extras.blocked(moves, at, range(1, last + 1)),
            reasons=await self.extras.reasons(run, moves, at),
            scaling=await self._scaling_summary(run, day, at),
            dry_run=self._dry(run),
            window=self._window(at),
        )

    async def _span_extras(self, run: Run, first: int, day: int, at: datetime) -> ReportExtras:
        moves = await self.gather.lane_moves(run)
        last = self.bot.runbook.calendar.working_days
        return ReportExtras(
            changes=await self.extras.changes(run, moves, at, first, day),
            blocked=self.extras.blocked(moves, at, range(1, last + 1)),
            reasons=await self.extras.reasons(run, moves, at),
            dry_run=self._dry(run),
            window=self._window(at),
        )

    async def _daily(
        self,
        run: Run,
        day: int,
        late: bool,
        due: datetime | None,
        dedupe_key: str,
        as_of: AsOf | None = None,
        email: bool = False,
    ) -> None:
        when = as_of or AsOf(self.bot.clock.now())
        inputs = await self.gather.inputs(run, day, day, when.at, replay=when.replay)
        extras = await self._day_extras(run, day, when.at)
        report = self._titled(daily_report(self.bot.runbook, day, *inputs.common(), late=late, extras=extras), when)
        chart, png = await self._chart(run, day, report.title, when.at)
        buttons = record_buttons(run.id, await self._unrecorded(run))
        night = [await self.night.deadline_section(run, day), await self.night.armed_tonight(run, when.at)]
        if not when.replay and not when.so_far:  # the scheduled 5 PM post asks on-call to accept the night
            buttons = buttons + self.night.button(run)
        tail = "\n\n".join(part for part in [_tail(inputs, chart), *night] if part)
        text = await self._post_report(run, report, late, due, dedupe_key, tail, buttons)
        if email:
            await self.emailer.send(run, dedupe_key, report.title, text, png)

    async def _unrecorded(self, run: Run) -> list[tuple[str, str]]:
        """The quality targets recorded by hand that nobody has recorded yet: (id, label) for their buttons."""
        recorded = {fact.label for fact in await self.answers.facts.facts(run.id, self.bot.clock.now())}
        return [(slug(t.label), t.label) for t in manual_targets(self.bot.runbook) if t.label not in recorded]

    async def _phase_summary(
        self,
        run: Run,
        day: int,
        late: bool,
        due: datetime | None,
        dedupe_key: str,
        as_of: AsOf,
        email: bool = False,
    ) -> None:
        phase = next((p for p in self.bot.runbook.phases if p.first_day <= day <= p.last_day), None)
        first = phase.first_day if phase else 1
        await self._span_report(phase_summary, run, first, day, late, due, dedupe_key, as_of, email)

    async def _final(
        self,
        run: Run,
        day: int,
        late: bool,
        due: datetime | None,
        dedupe_key: str,
        as_of: AsOf,
        email: bool = False,
    ) -> None:
        await self._span_report(final_report, run, 1, day, late, due, dedupe_key, as_of, email)

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
        report = build(self.bot.runbook, day, *inputs.common(), decisions, quality, late=late, extras=extras)
        text = await self._post_report(run, self._titled(report, as_of), late, due, dedupe_key, _tail(inputs))
        if email:
            await self.emailer.send(run, dedupe_key, report.title, text, None)

    async def _standup(
        self, run: Run, day: int, name: str, channel: str, late: bool, due: datetime | None, stamp: str = ""
    ) -> None:
        """A scheduled post is built as of the day's one snapshot; on demand, as of now."""
        now = self.bot.clock.now()
        at = now if stamp else await self.desk.snapshot_at(run.id, day, now)
        replay = at < now
        inputs = await self.gather.inputs(run, max(1, day - 1), max(1, day - 1), at, replay=replay)
        yesterday = inputs.outcomes if day > 1 else ()
        unticked = await self.gather.unticked(run, [day], inputs.history)
        moves = await self.gather.lane_moves(run)
        states = self.extras.plan_states(day, moves, at) + await self.extras.gate_states(run, day, at)
        reasons = await self.extras.reasons(run, moves, at)
        extras = ReportExtras(dry_run=self._dry(run), window=self._window(at), plan_states=states, reasons=reasons)
        single = self.bot.runbook.schedule.standup_posts == "single" and not stamp
        report = standup_digest(
            self.bot.runbook,
            day,
            "all zones" if single else name,
            yesterday,
            inputs.metrics,
            inputs.alerts,
            inputs.pending,
            unticked,
            inputs.ledger,
            late=late,
            extras=extras,
        )
        report = replace(
            report,
            snapshot_at=None if stamp else at.astimezone(self.zone),
            attendees="" if stamp else self.desk.attendees(),
            local_times=self.desk.local_times() if single else (),
        )
        key = f"standup:{name}:{run.id}:{day}" + (f":{stamp}" if stamp else "")
        text = self._late_note(late, due) + render_report(self.renderer, report)
        if replay:
            text += self._since(day, moves, at, now)
        if day > 1 and not stamp:  # the scheduled morning post starts with what happened overnight
            text = await self.night.overnight(run, at, self.night.since_last_evening(run, day)) + "\n\n" + text
        await self._post(channel, text, key)

    def _since(self, day: int, moves: Sequence[LaneMove], at: datetime, now: datetime) -> str:
        """What changed on the day's steps after the snapshot: a later post is never stale."""
        before = {step_id: text for step_id, text, _ in self.extras.plan_states(day, moves, at)}
        after = self.extras.plan_states(day, moves, now)
        lines = [f"- {step_id}: {text}" for step_id, text, _ in after if text and before.get(step_id) != text]
        if not lines:
            return ""
        local = now.astimezone(self.zone)
        return f"\n*Since the snapshot (to {local:%H:%M}):*\n" + "\n".join(lines) + "\n"

    async def _chart(self, run: Run, day: int, title: str, now: datetime) -> tuple[str | None, bytes | None]:
        """Upload the day's chart; a failure is logged and named in the report, never fatal."""
        try:
            series = await self.gather.chart_series(run, day, now)
            # Half a second of drawing: in a worker thread, so Slack's acks are not kept waiting.
            png = await asyncio.to_thread(metrics_chart_png, f"{title}: key metrics", series)
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
        text = self._late_note(late, due) + render_report(self.renderer, report)
        if tail:
            text = text.rstrip("\n") + "\n\n" + tail + "\n"
        await self._post(run.channel, text, dedupe_key, buttons)
        return text

    async def _post(
        self, channel: str, text: str, dedupe_key: str, buttons: list[dict[str, Any]] | None = None
    ) -> None:
        await self.poster.post(channel, text, section_blocks(text) + (buttons or []), dedupe_key)


def _tail(inputs: ReportInputs, chart: str | None = None) -> str | None:
    """The lines after a report: what a rebuilt report could not reconstruct, then the chart."""
    lines = [f"_(Not rebuilt for that time: {note})_" for note in inputs.notes]
    if chart:
        lines.append(chart)
    return "\n".join(lines) or None
