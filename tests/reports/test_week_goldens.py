"""Golden reports of two scripted weeks: a clean one, and one where a trigger rolled day2.1 back.

The builders are fed what the gatherers hand over (outcomes, step conditions, change rows, blocked
steps, bills, recorded quality facts), so the goldens pin down exactly what a manager reads.
"""

from __future__ import annotations

from datetime import datetime

from bot.engine.cost_ledger import CostEntry, LaneEvent, build_cost_ledger
from bot.engine.report_data import (
    GateDecision,
    MetricReading,
    PendingApproval,
    QualityReading,
    ReportExtras,
    StepOutcome,
    daily_report,
    final_report,
)
from bot.engine.report_model import BlockedStep, ChangeRow, StepMetricLine
from bot.reports.context import render_report
from bot.reports.render import ReportRenderer
from tests.reports.fixtures import utc, week17_runbook
from tests.reports.test_rendering import assert_golden

RUNBOOK = week17_runbook().model_copy(
    update={"targets": week17_runbook().targets.model_copy(update={"savings_pct": 16, "overall_by": "Week 18"})}
)
RENDERER = ReportRenderer()
WINDOW = "15-min mean to Fri 17:00"

METRICS = [
    MetricReading("p95_ms", 34.6, 36.4, 35, "ms"),
    MetricReading("cache_hit_rate_pct", 85.4, 82.3, 85, "pct"),
    MetricReading("db_query_ms", 14.8, 18.3, 15, "ms"),
    MetricReading("error_rate_pct", 0.18, 0.2, None, "pct"),
]
STEPS = [
    ("day1.1", "Slow Query Analysis"),
    ("day1.2", "Add Database Indexes"),
    ("day2.1", "Reduce Minimum Instances (US Region)"),
    ("day2.2", "Reduce Minimum Instances (EU Region)"),
    ("day2.3", "Implement Predictive Scaling"),
    ("day7.1", "Database Downsizing"),
]


RUN_DATES = {1: (10, 22), 2: (10, 23), 3: (10, 26), 7: (10, 30), 10: (11, 4)}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Day N of the fixture run (starts Thu 22 Oct 2026); the hour is UTC."""
    month, date = RUN_DATES[day]
    return utc(2026, month, date, hour, minute)


def clean_changes() -> tuple[ChangeRow, ...]:
    return (
        ChangeRow("day1.2", "Add Database Indexes", "production", "DB query time 18.3ms → 14.8ms (24h window)", False),
        ChangeRow(
            "day2.1",
            "Reduce Minimum Instances (US Region)",
            "production",
            "Response time P95 36.4ms → 34.6ms; Cloud Run -$100/month",
            False,
        ),
        ChangeRow("day3.1", "Increase L1 Cache Size", "production, 100 % of traffic", "L1 64.2% → 71%", False),
    )


def test_a_clean_week_final_report_matches_golden() -> None:
    outcomes = [StepOutcome(s, title, "production", "done", at(int(s[3]), 10), "lee") for s, title in STEPS]
    events = [LaneEvent(o.step_id, o.environment, "done", at(int(o.step_id[3]), 10)) for o in outcomes]
    bills = [
        CostEntry("Cloud Run", 960, at(7, 9), "maria"),
        CostEntry("Cloud SQL", 705, at(7, 9), "maria"),
        CostEntry("Cache", 300, at(7, 9), "maria"),
    ]
    ledger = build_cost_ledger(RUNBOOK, events, bills)
    quality = [
        QualityReading("Uptime: 99.95%+", True, "mean of availability_pct over 24h is 99.97"),
        QualityReading("Error Rate: <0.5%", True, "mean of error_rate_pct over 24h is 0.18"),
        QualityReading("Zero data loss", True, "restore drill clean", "maria", datetime(2026, 11, 4, 16, 40)),
        QualityReading("All tests passing", True, "CI green on main", "lee", datetime(2026, 11, 4, 16, 45)),
        QualityReading("No production incidents", True, "incidents is 0"),
    ]
    decisions = [GateDecision("gonogo.day10", "yes", "maria", at(10, 17, 5))]
    extras = ReportExtras(changes=clean_changes(), window=WINDOW)
    report = final_report(RUNBOOK, 10, outcomes, METRICS, [], [], [], ledger, decisions, quality, extras=extras)
    assert_golden("final_report_clean_week.md", render_report(RENDERER, report))


ROLLED_BACK_WHY = "trigger Error rate > 1% for 5 minutes: 2.5% (threshold 1%), at Fri 13:40"
BLOCKED = (BlockedStep("day2.2", "Reduce Minimum Instances (EU Region)", "day2.1 was rolled back in production"),)


def test_a_daily_report_after_a_rollback_matches_golden() -> None:
    outcomes = [
        StepOutcome("day2.1", "Reduce Minimum Instances (US Region)", "staging", "done", at(2, 9, 5), "dana"),
        StepOutcome(
            "day2.1", "Reduce Minimum Instances (US Region)", "production", "rolled_back", at(2, 13, 45), "bot"
        ),
    ]
    events = [
        LaneEvent("day2.1", "production", "done", at(2, 10, 12)),
        LaneEvent("day2.1", "production", "rolled_back", at(2, 13, 45)),
    ]
    step_metrics = (
        StepMetricLine(
            "day2.1", "accept", "p95_ms < 50", "Response time P95", "ms", 41.2, 36.4, 50, "30m window to 17:00", "met"
        ),
        StepMetricLine(
            "day2.1",
            "rollback",
            "error_rate_pct > 1 for 5m",
            "Error rate",
            "pct",
            2.5,
            0.2,
            1,
            "sustained 5m to 17:00",
            "not met",
        ),
    )
    extras = ReportExtras(
        step_metrics=step_metrics,
        blocked=BLOCKED,
        window="15-min mean to Tue 17:00",
        reasons=(("day2.1", ROLLED_BACK_WHY),),
    )
    ledger = build_cost_ledger(RUNBOOK, events)
    report = daily_report(RUNBOOK, 2, outcomes, METRICS, [], [], [], ledger, extras=extras)
    assert_golden("daily_report_rollback_week_day2.md", render_report(RENDERER, report))


def test_a_rollback_week_final_report_matches_golden() -> None:
    outcomes = [StepOutcome("day1.2", "Add Database Indexes", "production", "done", at(1, 10), "lee")]
    events = [
        LaneEvent("day1.2", "production", "done", at(1, 10)),
        LaneEvent("day2.1", "production", "done", at(2, 10, 12)),
        LaneEvent("day2.1", "production", "rolled_back", at(2, 13, 45)),
    ]
    changes = (
        ChangeRow("day1.2", "Add Database Indexes", "production", "DB query time 18.3ms → 14.8ms (24h window)", False),
        ChangeRow(
            "day2.1",
            "Reduce Minimum Instances (US Region)",
            "production (rolled back there)",
            "Error rate 0.2% → 2.5% (sustained 5m)",
            True,
            ROLLED_BACK_WHY,
        ),
    )
    quality = [
        QualityReading("Zero data loss", False, "two sessions lost in the rollback", "sam", datetime(2026, 11, 4, 9))
    ]
    decisions = [GateDecision("gonogo.day10", "no", "maria", at(10, 17, 5))]
    extras = ReportExtras(changes=changes, blocked=BLOCKED, window=WINDOW, reasons=(("day2.1", ROLLED_BACK_WHY),))
    ledger = build_cost_ledger(RUNBOOK, events, [CostEntry("Cloud Run", 1195, at(7, 9), "maria")])
    report = final_report(RUNBOOK, 10, outcomes, METRICS, [], [], [], ledger, decisions, quality, extras=extras)
    assert_golden("final_report_rollback_week.md", render_report(RENDERER, report))


def test_a_runbook_without_costs_shows_no_cost_line() -> None:
    bare = RUNBOOK.model_copy(update={"targets": RUNBOOK.targets.model_copy(update={"cost": []})})
    days = [
        d.model_copy(update={"steps": [s.model_copy(update={"cost_impact": None}) for s in d.steps]}) for d in bare.days
    ]
    bare = bare.model_copy(update={"days": days})
    text = render_report(RENDERER, daily_report(bare, 2, [], METRICS, [], [], [], build_cost_ledger(bare, [])))
    assert "- Cost expected" not in text and "- Cost realised" not in text and "$0" not in text


def test_a_blocked_step_is_listed_once_as_blocked_not_also_as_waiting_to_run() -> None:
    waiting = [
        PendingApproval(
            "day2.2", "Reduce Minimum Instances (EU Region)", "production", "someone to run it", approved=True
        )
    ]
    extras = ReportExtras(blocked=BLOCKED)
    ledger = build_cost_ledger(RUNBOOK, [])
    text = render_report(RENDERER, daily_report(RUNBOOK, 2, [], METRICS, [], waiting, [], ledger, extras=extras))
    issues = text.split("*Issues/Blockers:*\n")[1].split("\n\n")[0]
    assert issues.splitlines() == [
        "- :no_entry: day2.2 Reduce Minimum Instances (EU Region) is blocked: day2.1 was rolled back in production"
    ]
