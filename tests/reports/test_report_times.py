"""When a report stands: due on its run day in the team zone, "so far" before that, "as of" after, late notes."""

from __future__ import annotations

from datetime import date, time

from bot.engine.records import Run, RunState
from bot.engine.report_data import daily_report
from bot.reports.timing import AsOf, ReportTimes
from tests.reports import scripted
from tests.reports.fixtures import RUN_START, VirtualClock, utc, week17_runbook

RUNBOOK = week17_runbook()
RUN = Run("run-1", RUNBOOK.id, "C-ROLLOUT", RUN_START, RunState.ACTIVE, utc(2026, 10, 22, 13), "U-LEE")


def times_at(year: int, month: int, day: int, hour: int, minute: int = 0) -> tuple[ReportTimes, VirtualClock]:
    clock = VirtualClock(utc(year, month, day, hour, minute))
    return ReportTimes(lambda: RUNBOOK, clock), clock


def test_a_report_is_due_at_its_team_time_on_its_run_day_across_a_weekend() -> None:
    times, _ = times_at(2026, 10, 22, 12)
    assert times.date_of(RUN, 3) == date(2026, 10, 26)  # Thu, Fri, then Monday
    due = times.daily_due(RUN, 3)
    assert (due.date(), due.timetz().replace(tzinfo=None)) == (date(2026, 10, 26), RUNBOOK.schedule.daily_report_at)
    assert due.utcoffset() is not None and due.tzinfo == times.zone


def test_a_report_asked_for_before_its_time_stands_now_so_far_and_after_it_at_its_time() -> None:
    times, clock = times_at(2026, 10, 22, 20)  # 15:00 Chicago on Day 1
    due = times.daily_due(RUN, 1)
    assert times.as_of(due) == AsOf(clock.now(), so_far=True)
    clock.set(utc(2026, 10, 23, 1))  # 20:00 Chicago, after 17:00
    assert times.as_of(due) == AsOf(due, replay=True)


def test_the_title_says_so_far_or_as_of_and_a_scheduled_post_keeps_its_own() -> None:
    times, clock = times_at(2026, 10, 22, 20)
    report = daily_report(RUNBOOK, 1, *scripted.common(RUNBOOK))
    assert times.titled(report, AsOf(clock.now(), so_far=True)).title == f"{report.title} (so far, at 15:00)"
    replayed = times.titled(report, AsOf(times.daily_due(RUN, 1), replay=True))
    assert replayed.title == f"{report.title} (as of Thu 22 Oct 17:00)"
    assert times.titled(report, times.now()).title == report.title


def test_only_a_late_post_says_when_it_was_due_and_when_it_went_out() -> None:
    times, _ = times_at(2026, 10, 22, 23, 20)  # 18:20 Chicago
    due = times.due(RUN, 1, time(17, 0))
    assert times.late_note(True, due) == "_(late: posted 18:20, due 17:00)_\n"
    assert times.late_note(False, due) == ""
    assert times.late_note(True, None) == ""


def test_the_metric_window_is_named_in_the_team_zone() -> None:
    times, clock = times_at(2026, 10, 26, 22)
    assert times.window(clock.now()) == "15-min mean to Mon 17:00"
