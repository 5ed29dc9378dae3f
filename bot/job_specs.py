"""A run's scheduled jobs as data: what fires when, for how long it may still fire, how often it may post.

``build_jobs`` is a pure function of the runbook and the run's start date; its run days come from
the run calendar (bot/engine/calendar.py), so Day N here is Day N everywhere. ``fire_times`` walks
a trigger without APScheduler's timers, for catch-up after a restart and for virtual time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.engine.calendar import RunCalendar
from bot.runbook.models import Calendar, Runbook

JobKind = Literal[
    "daily_report", "standup", "gate_reminder", "phase_summary", "final_report", "scaling", "trigger_watch"
]
REPORT_GRACE = timedelta(hours=1)
GATE_GRACE = timedelta(minutes=30)
SCALING_GRACE = timedelta(minutes=10)
_LOOKBACK = timedelta(days=8)  # longer than any gap between two occurrences of a daily job


# --- the run calendar ------------------------------------------------------------------------


def run_dates(calendar: Calendar, start: date) -> list[date]:
    """The date of Day 1..N: the working days (calendar weekdays) from ``start`` on."""
    return list(RunCalendar(calendar, start).dates)


def run_day_of(calendar: Calendar, start: date, on: date) -> int | None:
    """Day N when ``on`` is a run day, None on a weekend or outside the run."""
    return RunCalendar(calendar, start).day_of(on)


# --- jobs as data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job of a run. ``day`` is fixed for one-off jobs (summary, final, gate reminders).

    ``name`` is the standup name or the gate id. ``claim`` says how often the job may post:
    once per local date, once per fire time (hourly scaling), or without a claim (the watch is
    idempotent: an open alert suppresses re-firing). ``missed_notice`` jobs post "the Day N
    report was missed" when a restart finds them past their grace time.
    """

    job_key: str
    trigger: BaseTrigger
    kind: JobKind
    day: int | None
    misfire_grace_time: timedelta
    name: str | None = None
    claim: Literal["per_date", "per_fire", "none"] = "per_date"
    missed_notice: bool = False
    run_day_only: bool = True


def build_jobs(runbook: Runbook, run_start_date: date) -> list[JobSpec]:
    """Every job of a run: reports, standups, gate reminders, summary, final report, scaling, watch."""
    span = _RunSpan(runbook, run_start_date)
    return [
        _daily_report_job(span),
        *_standup_jobs(span),
        *_gate_jobs(span),
        *_span_report_jobs(span),
        _scaling_job(span),
        _watch_job(span),
    ]


class _RunSpan:
    """What every job's trigger is cut from: the run's dates, its first and last instant, the team zone."""

    def __init__(self, runbook: Runbook, run_start_date: date) -> None:
        self.runbook = runbook
        self.team = ZoneInfo(runbook.calendar.timezone)
        self.dates = RunCalendar(runbook, run_start_date).dates
        self.first = datetime.combine(self.dates[0], time(0), self.team)
        self.last = datetime.combine(self.dates[-1], time(23, 59, 59), self.team)

    def has_day(self, day: int) -> bool:
        return day <= len(self.dates)

    def once(self, day: int, at: time) -> CronTrigger:
        """A trigger that fires once, at ``at`` (team time) on Day ``day``."""
        on = self.dates[day - 1]
        return CronTrigger(year=on.year, month=on.month, day=on.day, hour=at.hour, minute=at.minute, timezone=self.team)


def _daily_report_job(span: _RunSpan) -> JobSpec:
    report_at = span.runbook.schedule.daily_report_at
    trigger = CronTrigger(
        day_of_week=",".join(span.runbook.calendar.weekdays),
        hour=report_at.hour,
        minute=report_at.minute,
        timezone=span.team,
        start_date=span.first,
        end_date=span.last,
    )
    return JobSpec("daily_report", trigger, "daily_report", None, REPORT_GRACE, missed_notice=True)


def _span_report_jobs(span: _RunSpan) -> list[JobSpec]:
    """The phase summary and the final report, each once on its day (when the run has that day)."""
    schedule = span.runbook.schedule
    jobs: list[JobSpec] = []
    summary, final = schedule.summary_day, schedule.final_report_day
    if summary is not None and span.has_day(summary):
        trigger = span.once(summary, schedule.daily_report_at)
        jobs.append(JobSpec("phase_summary", trigger, "phase_summary", summary, REPORT_GRACE, missed_notice=True))
    if final is not None and span.has_day(final):
        trigger = span.once(final, schedule.final_report_at or schedule.daily_report_at)
        jobs.append(JobSpec("final_report", trigger, "final_report", final, REPORT_GRACE, missed_notice=True))
    return jobs


def _standup_jobs(span: _RunSpan) -> list[JobSpec]:
    """Every day in the standup's own zone; the run-day check (team calendar) filters weekends."""
    schedule = span.runbook.schedule
    jobs: list[JobSpec] = []
    for standup in schedule.standups:
        trigger = CronTrigger(
            hour=standup.at.hour,
            minute=standup.at.minute,
            timezone=ZoneInfo(standup.timezone),
            start_date=span.first,
            end_date=span.last,
        )
        jobs.append(
            JobSpec(f"standup:{standup.name}", trigger, "standup", None, schedule.standup_duration, standup.name)
        )
    return jobs


def _gate_jobs(span: _RunSpan) -> list[JobSpec]:
    """A reminder when each Go/No-Go gate is due, for the gates on a day the run has."""
    return [
        JobSpec(f"gate:{gate.id}", span.once(gate.day, gate.at), "gate_reminder", gate.day, GATE_GRACE, gate.id)
        for gate in span.runbook.gates
        if span.has_day(gate.day)
    ]


def _scaling_job(span: _RunSpan) -> JobSpec:
    # Hourly in UTC: APScheduler 3.11's hourly cron in a local zone repeats the fall-back hour
    # forever (01:00 CST after 01:00 CST). Every UTC hour is a local hour start in whole-hour
    # zones; the callback picks the local rule from ``at``.
    trigger = CronTrigger(minute=0, timezone=UTC, start_date=span.first)
    return JobSpec("scaling", trigger, "scaling", None, SCALING_GRACE, claim="per_fire", run_day_only=False)


def _watch_job(span: _RunSpan) -> JobSpec:
    interval = span.runbook.schedule.watch_interval
    trigger = IntervalTrigger(seconds=int(interval.total_seconds()), start_date=span.first, timezone=span.team)
    return JobSpec("trigger_watch", trigger, "trigger_watch", None, interval, claim="none", run_day_only=False)


def fire_times(trigger: BaseTrigger, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time of ``trigger`` in [start, end]."""
    times: list[datetime] = []
    fire: datetime | None = trigger.get_next_fire_time(None, start)
    while fire is not None and fire <= end:
        if times and fire <= times[-1]:
            break  # a trigger that does not advance (a DST fold in APScheduler 3) must not hang us
        times.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return times


def latest_fire_time(trigger: BaseTrigger, now: datetime, lookback: timedelta = _LOOKBACK) -> datetime | None:
    """When the job was last due at or before ``now`` (None when not within ``lookback``)."""
    times = fire_times(trigger, now - lookback, now)
    return times[-1] if times else None
