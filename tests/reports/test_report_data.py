"""The data of the reports: what counts as done, as an issue, as met; no data is never healthy."""

from __future__ import annotations

from bot.engine.report_data import (
    GateDecision,
    MetricReading,
    StepOutcome,
    daily_report,
    final_report,
    phase_summary,
    standup_digest,
    week_label,
)
from tests.reports import scripted
from tests.reports.fixtures import utc, week17_runbook

RUNBOOK = week17_runbook()
EMPTY_LEDGER = scripted.empty_ledger(RUNBOOK)


def test_daily_report_lists_done_steps_with_who_and_local_time_in_finish_order() -> None:
    report = daily_report(RUNBOOK, 2, *scripted.common(RUNBOOK))
    done = [
        (c.step_id, c.environment, c.by, c.finished_at.strftime("%H:%M") if c.finished_at else None)
        for c in report.completed
    ]
    assert done == [
        ("day2.1", "staging", "Alice", "09:02"),
        ("day2.1", "production", "Alice", "10:12"),
        ("day2.2", "production", "Bob", "11:05"),
    ]
    assert report.title == "Week 17 Day 2 Report"


def test_issues_collect_failures_alerts_approvals_and_unticked_items_in_that_order() -> None:
    report = daily_report(RUNBOOK, 2, *scripted.common(RUNBOOK))
    assert [(i.kind, i.ref) for i in report.issues] == [
        ("failed", "day2.3"),
        ("alert", "error_rate"),
        ("approval", "day2.3"),
        ("unticked", "day2.1"),
    ]
    assert report.issues[1].detail == "Error rate > 1% for 5 minutes, open"


def test_a_quiet_day_has_no_issues() -> None:
    report = daily_report(RUNBOOK, 1, [], [], [], [], [], EMPTY_LEDGER)
    assert report.issues == ()
    assert report.completed == ()


def test_a_missing_metric_value_is_unknown_never_met() -> None:
    report = daily_report(RUNBOOK, 2, [], [], [], [], [], EMPTY_LEDGER)
    assert [(m.metric_id, m.now, m.status) for m in report.metrics] == [
        ("p95_ms", None, "unknown"),
        ("cache_hit_rate_pct", None, "unknown"),
        ("db_query_ms", None, "unknown"),
    ]
    assert [m.baseline for m in report.metrics] == [36.4, 82.3, 18.3]


def test_status_follows_the_metric_better_direction() -> None:
    readings = [
        MetricReading("p95_ms", 34.0, None, None, "ms"),
        MetricReading("cache_hit_rate_pct", 84.0, None, None, "pct"),
        MetricReading("db_query_ms", 15.0, None, None, "ms"),
    ]
    report = daily_report(RUNBOOK, 2, [], readings, [], [], [], EMPTY_LEDGER)
    assert [m.status for m in report.metrics] == ["met", "not met", "met"]


def test_extra_readings_appear_after_the_targets_with_the_catalogue_title() -> None:
    readings = [MetricReading("error_rate_pct", 0.3, None, 0.5, "pct")]
    report = daily_report(RUNBOOK, 2, [], readings, [], [], [], EMPTY_LEDGER)
    extra = report.metrics[-1]
    assert (extra.label, extra.now, extra.target, extra.status) == ("Error rate", 0.3, 0.5, "met")


def test_next_day_plan_comes_from_the_runbook_with_the_decision_point() -> None:
    report = daily_report(RUNBOOK, 2, [], [], [], [], [], EMPTY_LEDGER)
    assert report.next_day is not None
    assert [s.step_id for s in report.next_day.steps] == ["day3.1", "day3.2"]
    assert [g.gate_id for g in report.next_day.gates] == ["gonogo.day3"]


def test_a_day_without_steps_plans_its_objective_and_the_last_day_has_no_next_day() -> None:
    monitoring = daily_report(RUNBOOK, 3, [], [], [], [], [], EMPTY_LEDGER).next_day
    assert (
        monitoring is not None
        and monitoring.steps == ()
        and monitoring.objective == "Monitor all changes from Days 1-3"
    )
    assert daily_report(RUNBOOK, 10, [], [], [], [], [], EMPTY_LEDGER).next_day is None


def test_standup_answers_the_agenda_for_today() -> None:
    digest = standup_digest(RUNBOOK, 3, "EU", *scripted.common(RUNBOOK))
    assert digest.today is not None and digest.today.day == 3
    assert len(digest.completed_yesterday) == 3
    assert digest.agenda[0] == "What was completed yesterday?"


def test_phase_summary_takes_the_day_three_decision_and_names_the_next_phase() -> None:
    summary = phase_summary(RUNBOOK, 5, *scripted.common(RUNBOOK), scripted.DECISIONS)
    assert (summary.first_day, summary.last_day, summary.next_phase) == (1, 5, "Phase 2: Major Optimizations")
    assert summary.decision is not None
    assert (summary.decision.gate_id, summary.decision.label) == ("gonogo.day3", "GO to Phase 2")


def test_an_undecided_gate_reads_pending_not_yes() -> None:
    summary = phase_summary(RUNBOOK, 5, [], [], [], [], [], EMPTY_LEDGER, [GateDecision("gonogo.day3", None)])
    assert summary.decision is not None and summary.decision.state == "pending"


def test_final_report_marks_unchecked_quality_targets_unknown() -> None:
    report = final_report(RUNBOOK, 10, *scripted.common(RUNBOOK), scripted.DECISIONS, scripted.QUALITY)
    assert [(q.label, q.status) for q in report.quality] == [
        ("Uptime: 99.95%+", "met"),
        ("Error Rate: <0.5%", "not met"),
        ("Zero data loss", "unknown"),
        ("All tests passing", "unknown"),
        ("No production incidents", "unknown"),
    ]
    assert report.decision is not None and report.decision.label == "Extend Week 17"


def test_rolled_back_steps_are_issues_not_completions() -> None:
    rolled = [StepOutcome("day2.1", "Reduce", "production", "rolled_back", utc(2026, 10, 23, 16), "Eve")]
    report = daily_report(RUNBOOK, 2, rolled, [], [], [], [], EMPTY_LEDGER)
    assert report.completed == ()
    assert [(i.kind, i.ref) for i in report.issues] == [("rolled_back", "day2.1")]


def test_the_week_label_reads_the_week_number_however_the_runbook_writes_it() -> None:
    assert week_label(week17_runbook(week="17 (2025-10-25 - 2025-10-31)")) == "Week 17"
    assert week_label(week17_runbook(week="Week 18")) == "Week 18"
    assert week_label(week17_runbook(week="Autumn")) == "Autumn"
    assert week_label(week17_runbook(week=None)) == "ION Mentoring Optimization"
