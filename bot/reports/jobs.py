"""What each scheduled job does when it fires: the scheduler's ``ScheduleCallbacks``.

Every job reads its run fresh and posts nothing when the run is no longer open (finished or
abandoned, perhaps on another replica): ``JobSkipped``. A scheduled post carries
``dedupe_key = job:run:day``, so a retried job body never shows twice. The final report waits for
the final decision: at its time a note says so, and the decision posts it (once, ``on_event``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.engine.ports import Event
from bot.engine.records import OPEN_RUN_STATES, Run
from bot.engine.report_data import decision_for
from bot.reports.emailing import ReportEmailer
from bot.reports.publisher import ReportPublisher
from bot.reports.scaling_rules import ScalingRules
from bot.reports.standup_post import StandupPoster
from bot.runbook.models import Runbook
from bot.scheduler import JobSkipped

if TYPE_CHECKING:
    from bot.bootstrap import Bot


class ScheduledJobs:
    """Dispatches each job to the publisher, the standup poster, the scaling rules or the trigger watch."""

    def __init__(
        self,
        bot: Bot,
        publisher: ReportPublisher,
        standups: StandupPoster,
        scaling: ScalingRules,
        emailer: ReportEmailer,
    ) -> None:
        self.bot = bot
        self.publisher = publisher
        self.standups = standups
        self.scaling = scaling
        self.emailer = emailer
        self.times = publisher.times

    @property
    def runbook(self) -> Runbook:
        """Read on every use: the bot's runbook may be replaced while the process runs (tests do)."""
        return self.bot.runbook

    async def post_daily_report(self, run_id: str, day: int, late: bool) -> None:
        run = await self._run(run_id)
        due = self.times.daily_due(run, day)
        key = f"daily_report:{run.id}:{day}"
        await self.publisher.daily(run, day, late, due, key, self.times.now(), email=True)

    async def post_standup(self, run_id: str, standup_name: str, day: int, late: bool) -> None:
        run = await self._run(run_id)
        schedule = self.runbook.schedule
        standup = next((s for s in schedule.standups if s.name == standup_name), None)
        if standup is None:
            raise ValueError(f"the runbook has no standup called {standup_name!r}")
        on = self.times.date_of(run, day)
        first = self.standups.desk.first_slot(on)
        if schedule.standup_posts == "single" and first is not None and first.name != standup.name:
            raise JobSkipped(f"the runbook posts one standup for every zone, at the {first.name} time")
        due = datetime.combine(on, standup.at).replace(tzinfo=ZoneInfo(standup.timezone))
        await self.standups.post(run, day, standup.name, standup.channel or run.channel, late, due)

    async def post_gate_reminder(self, run_id: str, gate_id: str, late: bool) -> None:
        run = await self._run(run_id)
        gate = self.runbook.gate(gate_id)
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
        due = self.times.due(run, gate.day, gate.at)
        await self.publisher.post(
            run.channel, self.times.late_note(late, due) + text, f"gate:{gate.id}:{run.id}:{gate.day}"
        )

    async def post_phase_summary(self, run_id: str, day: int, late: bool) -> None:
        run = await self._run(run_id)
        due = self.times.daily_due(run, day)
        key = f"phase_summary:{run.id}:{day}"
        await self.publisher.phase_summary(run, day, late, due, key, self.times.now(), email=True)

    async def post_final_report(self, run_id: str, day: int, late: bool) -> None:
        """At its time when the final decision is made; else a note now and the report when it is made."""
        run = await self._run(run_id)
        due = self.times.final_due(run, day)
        if not await self._final_decided(run, day):
            gate = decision_for(self.runbook, day, [])
            name = gate.title if gate else "the final decision"
            command = f"`/ion gonogo {gate.gate_id}`" if gate else "the final Go/No-Go"
            text = (
                f":hourglass: The final report waits for *{name}* ({command}): it reports that decision, "
                "so it is posted as soon as the decision is made."
            )
            await self.publisher.post(
                run.channel, self.times.late_note(late, due) + text, f"final_waiting:{run.id}:{day}"
            )
            return
        key = f"final_report:{run.id}:{day}"
        await self.publisher.final(run, day, late, due, key, self.times.now(), email=True)

    async def post_missed_report(self, run_id: str, kind: str, day: int, text: str) -> None:
        run = await self._run(run_id)
        await self.publisher.post(run.channel, f":warning: {text}", f"missed:{kind}:{run.id}:{day}")

    async def apply_scaling_rules(self, run_id: str, at: datetime) -> None:
        await self.scaling.apply(await self._run(run_id), at)

    async def watch_triggers(self, run_id: str, at: datetime) -> None:
        run = await self._run(run_id)
        await self.bot.watcher.poll(run.id, run.channel, await self.bot.latest_production_step(run.id))
        await self.bot.duties.pass_once(run)

    async def retry_emails(self) -> None:
        """The resync tick: another round for report emails that failed."""
        await self.emailer.retry_pending()

    async def on_event(self, event: Event) -> None:
        """The final decision made after the final report's time: post the final report now (once)."""
        if event.kind != "gate_changed" or event.run_id is None:
            return
        day = self.runbook.schedule.final_report_day
        gate = decision_for(self.runbook, day, []) if day is not None else None
        if day is None or gate is None or event.data.get("gate") != gate.gate_id:
            return
        run = await self.bot.store.get_run(event.run_id)
        now = self.bot.clock.now()
        if run is None or now < self.times.final_due(run, day):
            return  # before its time the scheduled job posts it, decided by then
        if not await self._final_decided(run, day):
            return
        local_date = now.astimezone(self.times.zone).date().isoformat()
        if not await self.bot.store.claim_post("final_report:decided", run.id, local_date):
            return
        await self.publisher.final(run, day, False, None, f"final_report:{run.id}:{day}", self.times.now(), email=True)

    async def _final_decided(self, run: Run, day: int) -> bool:
        decision = decision_for(self.runbook, day, await self.publisher.gather.decisions(run.id))
        return decision is None or decision.state != "pending"

    async def _run(self, run_id: str) -> Run:
        """The run of a scheduled job, read fresh: it may have been closed since it was scheduled."""
        run = await self.bot.store.get_run(run_id)
        if run is None:
            raise JobSkipped(f"run {run_id} no longer exists")
        if run.state not in OPEN_RUN_STATES:
            raise JobSkipped(f"run {run_id} is {run.state.value}")
        return run
