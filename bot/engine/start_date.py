"""Day 1 of a run: the date people asked for, checked against the runbook's working days and weekdays.

A run's Day N is the Nth working day from its start date, so a start on a Sunday really begins on
Monday: the run stores that Monday, so the channel, the private answer and the audit log all say the
same date. A start that is not a working day, or that puts the days on other weekdays than the
runbook's ``weekday:`` fields say (Day 6 "Monday" on a Wednesday), is refused with the command that
confirms it: the working day named outright, or ``--shift`` to keep the days off their weekdays.
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.engine.calendar import WEEKDAYS as _WEEKDAYS
from bot.engine.calendar import RunCalendar
from bot.engine.errors import Refused
from bot.runbook.models import Runbook

_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def first_working_day(runbook: Runbook, asked: date) -> date:
    """``asked`` itself when it is a working day, else the next one (Day 1 of a run started then)."""
    return RunCalendar(runbook, asked).date_of(1)


def day_one(runbook: Runbook, asked: date, shift: bool = False) -> tuple[date, list[str]]:
    """The Day 1 to store for a start on ``asked``, and the days that fall off their weekday (with
    ``shift``); refused with a sentence and the confirming command otherwise."""
    start = first_working_day(runbook, asked)
    calendar = RunCalendar(runbook, start)
    off = [
        f"Day {day.number} ({_NAMES[_WEEKDAYS.index(day.weekday)]}) on {calendar.date_of(day.number):%a %d %b}"
        for day in runbook.days
        if day.weekday is not None
        and 1 <= day.number <= calendar.working_days
        and _WEEKDAYS[calendar.date_of(day.number).weekday()] != day.weekday
    ]
    if start != asked and not shift:
        raise Refused(
            f"{asked:%a %d %b %Y} is not a working day of {runbook.id} ({', '.join(runbook.calendar.weekdays)}), "
            f"so Day 1 would be {start:%a %d %b}. Nothing was started; to start then, "
            f"type /ion start {runbook.id} {start.isoformat()}."
        )
    if off and not shift:
        first = next(d for d in runbook.days if d.weekday is not None)
        aligned = _next_aligned(runbook, asked)
        instead = (
            f"start on {aligned:%a %d %b} with /ion start {runbook.id} {aligned.isoformat()}, or " if aligned else ""
        )
        raise Refused(
            f"{runbook.id} puts Day {first.number} on a {_NAMES[_WEEKDAYS.index(first.weekday or 'mon')]} "
            f"(weekday: {first.weekday}), and a start on {start:%a %d %b} moves the days off their weekdays: "
            f"{'; '.join(off[:3])}{'; …' if len(off) > 3 else ''}. Nothing was started; {instead}"
            f"keep {start:%a %d %b} with /ion start {runbook.id} {start.isoformat()} --shift."
        )
    return start, off


def _next_aligned(runbook: Runbook, after: date) -> date | None:
    """The first date on or after ``after`` (within two weeks) on which every day keeps its weekday."""
    for offset in range(15):
        candidate = after + timedelta(days=offset)
        calendar = RunCalendar(runbook, candidate)
        if calendar.date_of(1) != candidate:
            continue
        if all(
            _WEEKDAYS[calendar.date_of(day.number).weekday()] == day.weekday
            for day in runbook.days
            if day.weekday is not None and 1 <= day.number <= calendar.working_days
        ):
            return candidate
    return None
