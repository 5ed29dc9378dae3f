"""When a report stands: its due time on a run day, "so far" or "as of" for one asked on demand, late notes.

One small clock-and-calendar helper shared by the scheduled jobs, the on-demand commands and the
report builder, so all three agree on what 17:00 on Day 2 is and how a late post says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot.engine.calendar import RunCalendar
from bot.engine.ports import Clock
from bot.engine.records import Run
from bot.reports.context import Report
from bot.reports.gather import READING_WINDOW
from bot.runbook.models import Runbook


@dataclass(frozen=True)
class AsOf:
    """The moment a report stands at: ``replay`` rebuilds it from the history (a past report time);
    ``so_far`` marks a day still under way (now, before its report time)."""

    at: datetime
    replay: bool = False
    so_far: bool = False


class ReportTimes:
    """The team zone's view of a run's report times, read against the bot's clock."""

    def __init__(self, runbook: Callable[[], Runbook], clock: Clock) -> None:
        """``runbook`` is read on every use: the bot's runbook may be replaced while the process runs."""
        self._runbook = runbook
        self.clock = clock
        self.zone = ZoneInfo(runbook().calendar.timezone)

    @property
    def runbook(self) -> Runbook:
        return self._runbook()

    def date_of(self, run: Run, day: int) -> date:
        return RunCalendar(self.runbook, run.start_date).date_of(day)

    def due(self, run: Run, day: int, at: time) -> datetime:
        return datetime.combine(self.date_of(run, day), at, self.zone)

    def daily_due(self, run: Run, day: int) -> datetime:
        return self.due(run, day, self.runbook.schedule.daily_report_at)

    def final_due(self, run: Run, day: int) -> datetime:
        schedule = self.runbook.schedule
        return self.due(run, day, schedule.final_report_at or schedule.daily_report_at)

    def now(self) -> AsOf:
        return AsOf(self.clock.now())

    def as_of(self, due: datetime) -> AsOf:
        """An on-demand report stands at its scheduled time once that has passed, else now, so far."""
        now = self.clock.now()
        return AsOf(due, replay=True) if now >= due else AsOf(now, so_far=True)

    def titled(self, report: Report, as_of: AsOf) -> Report:
        """Say in the title when an on-demand report stands: so far today, or at a past report time."""
        local = as_of.at.astimezone(self.zone)
        if as_of.so_far:
            return replace(report, title=f"{report.title} (so far, at {local:%H:%M})")
        if as_of.replay:
            return replace(report, title=f"{report.title} (as of {local:%a %d %b %H:%M})")
        return report

    def late_note(self, late: bool, due: datetime | None) -> str:
        if not late or due is None:
            return ""
        posted = self.clock.now().astimezone(due.tzinfo)
        return f"_(late: posted {posted:%H:%M}, due {due:%H:%M})_\n"

    def window(self, at: datetime) -> str:
        minutes = int(READING_WINDOW.total_seconds() // 60)
        return f"{minutes}-min mean to {at.astimezone(self.zone):%a %H:%M}"
