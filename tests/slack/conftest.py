"""Shared runbook pieces and views for the Slack-surface tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.engine.ports import Change
from bot.runbook.models import Gate, Step
from bot.slack.blocks.views import CardMeta, LaneView, PlanLine, PlanView, StepCardView, TickView

AT = datetime(2025, 10, 28, 15, 2, tzinfo=UTC)  # 10:02 in Chicago


def make_step(checklist: int = 3, step_id: str = "day2.1") -> Step:
    return Step.model_validate(
        {
            "id": step_id,
            "title": "Scale down Cloud Run minimum instances",
            "objective": "Cut idle cost: minInstances 3 → 2 in every region",
            "window": {"start": "09:00", "end": "10:00"},
            "environments": ["staging", "production"],
            "staging_first": True,
            "actions": [
                {"kind": "cloud_run.scale", "service": "ion-mentoring-api", "min_instances": 2},
            ],
            "checklist": [{"id": f"item-{n}", "text": f"Check number {n} is fine"} for n in range(1, checklist + 1)],
            "acceptance": ["error_rate_pct < 0.5 for 30m", "latency_p95_ms < 50"],
            "expected_impact": "-$90/month",
        }
    )


def make_gate() -> Gate:
    return Gate.model_validate(
        {
            "id": "preflight",
            "title": "Week 17 pre-implementation",
            "day": 1,
            "at": "09:00",
            "health_checks": [
                {"label": "Production availability", "condition": "availability_pct >= 99.95"},
                {"label": "Error rate", "condition": "error_rate_pct < 0.5"},
            ],
            "sections": [
                {"title": "Team readiness", "items": [{"id": "trained", "text": "All team members trained"}]},
                {
                    "title": "Infrastructure",
                    "items": [{"id": f"infra-{n}", "text": f"Infrastructure item {n}"} for n in range(12)],
                },
            ],
            "signoffs": ["lead", "manager"],
            "unlocks_day": 1,
        }
    )


def plan(env: str, changes: int = 1) -> PlanView:
    regions = ["us-central1", "europe-west1", "asia-east1"]
    return PlanView(
        environment=env,
        fingerprint=f"fp-{env}-0123456789abcdef",
        production=env == "production",
        lines=(
            PlanLine(
                "Scale ion-mentoring-api: min 2",
                tuple(
                    Change(f"ion-mentoring-api {regions[n % 3]}-{n} ({env})", "minInstances", 3, 2)
                    for n in range(changes)
                ),
            ),
        ),
    )


@pytest.fixture
def step_view() -> StepCardView:
    return StepCardView(
        meta=CardMeta(run_id="run-1", card_version=4, timezone="America/Chicago"),
        step=make_step(),
        lanes=(LaneView("staging", "done", AT, "U0LEE"), LaneView("production", "ready")),
        ticks=(TickView("item-1", "lee", AT),),
        plans=(plan("staging"), plan("production")),
    )
