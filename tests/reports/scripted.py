"""The scripted day the golden files are rendered from: Day 2 with done steps, a failure, an alert, an approval."""

from __future__ import annotations

from bot.engine.cost_ledger import CostEntry, CostLedger, LaneEvent, build_cost_ledger
from bot.engine.report_data import (
    GateDecision,
    MetricReading,
    OpenAlert,
    PendingApproval,
    QualityReading,
    StepOutcome,
    UntickedItem,
)
from bot.runbook.models import Runbook
from tests.reports.fixtures import utc

OUTCOMES = [
    StepOutcome(
        "day2.1", "Reduce Minimum Instances (US Region)", "production", "done", utc(2026, 10, 23, 15, 12), "Alice"
    ),
    StepOutcome(
        "day2.2", "Reduce Minimum Instances (EU Region)", "production", "done", utc(2026, 10, 23, 16, 5), "Bob"
    ),
    StepOutcome("day2.3", "Implement Predictive Scaling", "production", "failed", utc(2026, 10, 23, 17, 30), "Bob"),
    StepOutcome("day2.1", "Reduce Minimum Instances (US Region)", "staging", "done", utc(2026, 10, 23, 14, 2), "Alice"),
]
METRICS = [
    MetricReading("p95_ms", 35.1, 36.4, 35, "ms"),
    MetricReading("cache_hit_rate_pct", None, 82.3, 85, "pct"),
    MetricReading("db_query_ms", 15.2, 18.3, 15, "ms"),
]
ALERTS = [OpenAlert("error_rate", "error_rate_pct at 1.4% (threshold 1) for 5m", utc(2026, 10, 23, 18, 40))]
PENDING = [PendingApproval("day2.3", "Implement Predictive Scaling", "production", "lead", "Bob")]
UNTICKED = [UntickedItem("day2.1", "no-spike", "No spike in error rate")]
EVENTS = [
    LaneEvent("day2.1", "production", "done", utc(2026, 10, 23, 15, 12)),
    LaneEvent("day2.2", "production", "done", utc(2026, 10, 23, 16, 5)),
    LaneEvent("day2.3", "production", "failed", utc(2026, 10, 23, 17, 30)),
]
BILLS = [CostEntry("Cloud Run", 1040, utc(2026, 10, 23, 20, 0), "Carol")]
DECISIONS = [
    GateDecision("gonogo.day3", "yes", "Dana", utc(2026, 10, 26, 22, 5)),
    GateDecision("gonogo.day10", "no", "Dana", utc(2026, 11, 4, 22, 10)),
]
QUALITY = [
    QualityReading("Uptime: 99.95%+", True, "99.97% over the rollout"),
    QualityReading("Error Rate: <0.5%", False, "0.7% on day 2"),
    QualityReading("Zero data loss", None, "no data"),
]


def ledger(runbook: Runbook) -> CostLedger:
    return build_cost_ledger(runbook, EVENTS, BILLS)


def empty_ledger(runbook: Runbook) -> CostLedger:
    return build_cost_ledger(runbook, [])


Common = tuple[
    list[StepOutcome], list[MetricReading], list[OpenAlert], list[PendingApproval], list[UntickedItem], CostLedger
]


def common(runbook: Runbook) -> Common:
    """The inputs every report builder takes, in its parameter order."""
    return (OUTCOMES, METRICS, ALERTS, PENDING, UNTICKED, ledger(runbook))
