"""`/ion report [DAY]` and `/ion standup`: a report asked for stands at its own scheduled time once that has passed.

Day 2's report asked for on Day 4 is rebuilt from the store's history as it stood at 17:00 on Day 2
(``AsOf``). Before that time it is today's report "so far", and a day that has not come yet has no
report. Every on-demand post has its own key (stamped with the time), so asking twice posts twice.
"""

from __future__ import annotations

from datetime import date

from bot.engine.calendar import RunCalendar
from bot.engine.cost_recording import ChannelRuns
from bot.engine.errors import Refused
from bot.engine.ports import Actor, Clock
from bot.engine.records import Run
from bot.reports.publisher import ReportPublisher
from bot.reports.standup_post import StandupPoster
from bot.runbook.models import Runbook
from bot.slack.blocks.mrkdwn import Mrkdwn


class OnDemandReports:
    """The report commands for the run of a channel; posts through the shared publisher."""

    def __init__(self, runs: ChannelRuns, publisher: ReportPublisher, standups: StandupPoster) -> None:
        self.runs = runs
        self.publisher = publisher
        self.standups = standups
        self.times = publisher.times
        self.clock: Clock = publisher.times.clock

    @property
    def runbook(self) -> Runbook:
        return self.publisher.runbook

    async def daily_report(self, channel: str, day: int | None, actor: Actor) -> None:
        """The day's report as its 5 PM post said it (or "so far" today), with the phase summary or the
        final report too on their day: the missed-report notices send people here for those."""
        run = await self.runs.require_run(channel)
        number = self.day_or_today(run, day)
        schedule = self.runbook.schedule
        stamp = f"{self.clock.now():%Y%m%dT%H%M%S.%f}"
        as_of = self.times.as_of(self.times.daily_due(run, number))
        await self.publisher.daily(run, number, False, None, f"report:{run.id}:{number}:{stamp}", as_of)
        if number == schedule.summary_day:
            key = f"report:{run.id}:{number}:summary:{stamp}"
            await self.publisher.phase_summary(run, number, False, None, key, as_of)
        if number == schedule.final_report_day:
            final_as_of = self.times.as_of(self.times.final_due(run, number))
            key = f"report:{run.id}:{number}:final:{stamp}"
            await self.publisher.final(run, number, False, None, key, final_as_of)

    async def standup(self, channel: str, actor: Actor) -> None:
        run = await self.runs.require_run(channel)
        day = self.day_or_today(run, None)
        now = self.clock.now()
        await self.standups.post(run, day, "on demand", channel, False, None, f"{now:%Y%m%dT%H%M%S.%f}")

    def day_or_today(self, run: Run, day: int | None) -> int:
        """``day`` when it has come (refused when outside the run or still ahead), else the latest run day."""
        calendar = RunCalendar(self.runbook, run.start_date)
        last = self.runbook.calendar.working_days
        today = self.clock.now().astimezone(self.times.zone).date()
        past = [n for n in range(1, last + 1) if calendar.date_of(n) <= today]
        if day is None:
            if not past:
                raise Refused(
                    f"The run starts on {calendar.date_of(1):%a %d %b}, so there is no report yet. "
                    "Nothing was posted; try again on Day 1."
                )
            return past[-1]
        if not 1 <= day <= last:
            raise Refused(f"This run has days 1 to {last}, so there is no Day {day} report. Nothing was posted.")
        if calendar.date_of(day) > today:
            raise Refused(_not_yet(day, calendar.date_of(day), past))
        return day


def _not_yet(day: int, on: date, past: list[int]) -> Mrkdwn:
    """The bot's own words only, with its `code`: posted as they are."""
    hint = f" `/ion report` shows Day {past[-1]} so far." if past else ""
    said = f"Day {day} is {on:%a %d %b}, which has not come yet, so there is no Day {day} report."
    return Mrkdwn(f"{said} Nothing was posted.{hint}")
