"""A run's jobs as data: their days come from the run calendar, and a one-off job needs its day in the run."""

from __future__ import annotations

from datetime import date

from bot.engine.calendar import RunCalendar
from bot.job_specs import build_jobs, run_dates, run_day_of
from tests.reports.fixtures import RUN_START, week17_runbook

RUNBOOK = week17_runbook()


def test_run_days_are_the_run_calendars_days() -> None:
    calendar = RunCalendar(RUNBOOK, RUN_START)
    assert run_dates(RUNBOOK.calendar, RUN_START) == list(calendar.dates)
    for on in (date(2026, 10, 24), date(2026, 10, 26), date(2026, 11, 4), date(2026, 11, 5)):
        assert run_day_of(RUNBOOK.calendar, RUN_START, on) == calendar.day_of(on)


def test_the_jobs_come_in_their_order_with_one_of_each_gate_and_standup() -> None:
    keys = [job.job_key for job in build_jobs(RUNBOOK, RUN_START)]
    standups = [f"standup:{s.name}" for s in RUNBOOK.schedule.standups]
    gates = [f"gate:{g.id}" for g in RUNBOOK.gates]
    spans = [k for k in ("phase_summary", "final_report") if k in keys]
    assert keys == ["daily_report", *standups, *gates, *spans, "scaling", "trigger_watch"]


def test_a_run_shorter_than_a_one_off_jobs_day_has_no_such_job() -> None:
    short = RUNBOOK.model_copy(update={"calendar": RUNBOOK.calendar.model_copy(update={"working_days": 2})})
    jobs = build_jobs(short, RUN_START)
    assert all(job.day is None or job.day <= 2 for job in jobs)
    assert "final_report" not in [job.job_key for job in jobs]
