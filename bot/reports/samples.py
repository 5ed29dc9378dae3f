"""A small runbook and one filled context per template, for start-up template validation.

The contexts are built by the real report builders, so a template that renders here can
use every field a live report has; every optional part is filled so no branch goes untried.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.engine.cost_ledger import CostEntry, LaneEvent, build_cost_ledger
from bot.engine.report_data import (
    GateDecision,
    MetricReading,
    OpenAlert,
    PendingApproval,
    QualityReading,
    StepOutcome,
    UntickedItem,
    daily_report,
    final_report,
    phase_summary,
    standup_digest,
)
from bot.reports.context import card_context, report_context, step_card
from bot.reports.render import DAILY_REPORT, FINAL_REPORT, PHASE_SUMMARY, STANDUP, STEP_CARD
from bot.runbook.models import Runbook

SAMPLE_RUNBOOK: dict[str, Any] = {
    "id": "sample",
    "title": "Sample rollout",
    "week": "17",
    "calendar": {"working_days": 3, "timezone": "America/Chicago"},
    "environments": [
        {"name": "staging", "project": "sample-staging"},
        {"name": "production", "project": "sample", "production": True},
    ],
    "services": [{"name": "api", "regions": ["us-central1"]}],
    "metrics": [
        {"id": "p95_ms", "title": "Response time P95", "unit": "ms", "query": {"filter": "p95"}},
        {
            "id": "hit_rate_pct",
            "title": "Cache hit rate",
            "unit": "pct",
            "better": "higher",
            "query": {"filter": "hits"},
        },
    ],
    "phases": [
        {"name": "Quick wins", "first_day": 1, "last_day": 2},
        {"name": "Rest", "first_day": 3, "last_day": 3},
    ],
    "gates": [{"id": "gonogo.day2", "title": "Go/No-Go", "day": 2, "at": "17:00"}],
    "days": [
        {
            "number": 1,
            "title": "Scale",
            "objective": "Cut cost",
            "steps": [
                {
                    "id": "day1.1",
                    "title": "Scale down",
                    "window": {"start": "09:00", "end": "10:00"},
                    "objective": "One instance fewer",
                    "expected_impact": "-$100/month",
                    "checklist": [{"id": "healthy", "text": "All instances healthy"}],
                    "approvals": [{"role": "lead"}],
                    "cost_impact": {"service": "Cloud Run", "monthly_usd": -100},
                }
            ],
        },
        {"number": 2, "title": "Watch", "steps": [{"id": "day2.1", "title": "Observe"}]},
    ],
    "triggers": [{"id": "errors", "title": "Error rate", "condition": "p95_ms > 100"}],
    "schedule": {
        "daily_report_at": "17:00",
        "standups": [{"name": "US", "at": "09:00", "timezone": "America/Chicago"}],
        "standup_agenda": ["What was completed yesterday?"],
    },
    "targets": {
        "performance": [{"metric": "p95_ms", "label": "Response Time P95", "current": 36.4, "target": 35}],
        "cost": [{"service": "Cloud Run", "current_usd": 1200, "target_usd": 950}],
        "quality": [{"label": "Uptime: 99.95%+"}],
        "overall_monthly_savings_usd": -615,
        "expected_results": ["Cost reduction: $200-300/month"],
    },
}


def sample_runbook() -> Runbook:
    return Runbook.model_validate(SAMPLE_RUNBOOK)


def sample_contexts() -> dict[str, dict[str, Any]]:
    """One context per template name, with every list non-empty and every optional field set."""
    runbook = sample_runbook()
    at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    outcomes = [
        StepOutcome("day1.1", "Scale down", "production", "done", at, "Alice"),
        StepOutcome("day2.1", "Observe", "production", "failed", at, "Bob"),
    ]
    metrics = [
        MetricReading("p95_ms", 35.2, 36.4, 35, "ms"),
        MetricReading("hit_rate_pct", None, 82.3, 85, "pct"),
    ]
    alerts = [OpenAlert("errors", "p95 above 100ms", at)]
    pending = [PendingApproval("day2.1", "Observe", "production", "lead", "Alice")]
    unticked = [UntickedItem("day1.1", "healthy", "All instances healthy")]
    ledger = build_cost_ledger(
        runbook,
        [LaneEvent("day1.1", "production", "done", at)],
        [CostEntry("Cloud Run", 1100, at, "Alice")],
    )
    decisions = [GateDecision("gonogo.day2", "yes", "Carol", at)]
    quality = [QualityReading("Uptime: 99.95%+", True, "99.97%")]
    common = (outcomes, metrics, alerts, pending, unticked, ledger)
    step = runbook.step("day1.1")
    assert step is not None
    return {
        DAILY_REPORT: report_context(daily_report(runbook, 1, *common, late=True)),
        STANDUP: report_context(standup_digest(runbook, 2, "US", *common, late=True)),
        PHASE_SUMMARY: report_context(phase_summary(runbook, 2, *common, decisions, quality, late=True)),
        FINAL_REPORT: report_context(final_report(runbook, 3, *common, decisions, quality, late=True)),
        STEP_CARD: card_context(step_card(step, "production", "ready", {"healthy"}, ["Scale api: min 3 -> 2"])),
    }
