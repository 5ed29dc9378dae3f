"""Day N of a run is the Nth working day from its start date, in the runbook's time zone.

All conversions go through ``zoneinfo`` so a window "09:00-10:00" means 09:00 local on both
sides of a DST change (in UTC the window moves by an hour).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.runbook.models import Calendar, Runbook, Step

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # the runbook's weekday names, Monday first


class RunCalendar:
    """Working days of one run: ``date_of(1)`` is the first working day on or after the start."""

    def __init__(self, runbook: Runbook | Calendar, start_date: date) -> None:
        """``runbook`` may be the runbook or just its calendar section (all the scheduler holds)."""
        calendar = runbook if isinstance(runbook, Calendar) else runbook.calendar
        self.zone = ZoneInfo(calendar.timezone)
        self.working_days = calendar.working_days
        self._weekdays = frozenset(WEEKDAYS.index(d) for d in calendar.weekdays)
        self.start_date = start_date
        self._dates = self._build_dates()

    def _build_dates(self) -> list[date]:
        dates: list[date] = []
        day = self.start_date
        while len(dates) < self.working_days:
            if day.weekday() in self._weekdays:
                dates.append(day)
            day += timedelta(days=1)
        return dates

    @property
    def dates(self) -> tuple[date, ...]:
        """The dates of Day 1..N, in order."""
        return tuple(self._dates)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self._weekdays

    def date_of(self, day_number: int) -> date:
        """The calendar date of Day ``day_number`` (1-based); raises for days outside the run."""
        if not 1 <= day_number <= self.working_days:
            raise ValueError(f"day {day_number} is outside this run, which has days 1 to {self.working_days}")
        return self._dates[day_number - 1]

    def day_of(self, day: date) -> int | None:
        """The run's day number of ``day``; None on a weekend/non-working day or outside the run."""
        try:
            return self._dates.index(day) + 1
        except ValueError:
            return None

    def local_date(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()

    def local_time(self, now: datetime) -> datetime:
        return now.astimezone(self.zone)

    def at(self, day: date, clock_time: time) -> datetime:
        """A local wall-clock time on ``day`` as an aware UTC datetime."""
        return datetime.combine(day, clock_time, tzinfo=self.zone).astimezone(UTC)

    def window_of(self, step: Step) -> tuple[datetime, datetime] | None:
        """The step's time window in UTC on its day, or None when it has no window or day."""
        if step.window is None or not 1 <= step.day <= self.working_days:
            return None
        day = self.date_of(step.day)
        return self.at(day, step.window.start), self.at(day, step.window.end)

    def today(self, now: datetime) -> int | None:
        return self.day_of(self.local_date(now))


@dataclass(frozen=True)
class ScheduledStep:
    step: Step
    starts: datetime | None
    ends: datetime | None


@dataclass(frozen=True)
class Position:
    """Where the run is now: today's day, today's steps, what is overdue, and what comes next."""

    local_date: date
    day: int | None
    today: list[ScheduledStep]
    overdue: list[ScheduledStep]
    next_step: ScheduledStep | None


def where_are_we(runbook: Runbook, calendar: RunCalendar, now: datetime, finished: Collection[str]) -> Position:
    """``finished`` holds the ids of steps that need no more work (done or skipped everywhere)."""
    day = calendar.today(now)
    scheduled = [_schedule(calendar, step) for step in runbook.steps()]
    today = [s for s in scheduled if day is not None and s.step.day == day]
    overdue = [s for s in scheduled if s.ends is not None and s.ends <= now and s.step.id not in finished]
    pending = [s for s in scheduled if s.step.id not in finished]
    return Position(
        local_date=calendar.local_date(now),
        day=day,
        today=today,
        overdue=overdue,
        next_step=pending[0] if pending else None,
    )


def _schedule(calendar: RunCalendar, step: Step) -> ScheduledStep:
    window = calendar.window_of(step)
    if window is None:
        return ScheduledStep(step, None, None)
    return ScheduledStep(step, window[0], window[1])
