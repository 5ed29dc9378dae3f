"""Plan lines: each action kind described from the model alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runbook.describe import describe_action
from bot.runbook.loader import load_runbook
from bot.runbook.models import ACTION_KINDS, Runbook

WEEK17 = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"


@pytest.fixture(scope="module")
def week17() -> Runbook:
    return load_runbook(WEEK17)


def _first(runbook: Runbook, step_id: str, index: int = 0) -> str:
    step = runbook.step(step_id)
    assert step is not None
    return describe_action(step.actions[index])


def test_scale_names_service_region_and_limit(week17: Runbook) -> None:
    assert _first(week17, "day2.1") == "Scale ion-mentoring-api in us-central1 to minInstances 2"
    step = week17.step("day2.1")
    assert step is not None
    assert describe_action(step.actions[0], "staging") == (
        "Scale ion-mentoring-api in us-central1 to minInstances 2 (staging)"
    )


def test_env_traffic_tier_and_schedule_lines(week17: Runbook) -> None:
    assert _first(week17, "day3.2") == "Set env ENABLE_CACHE_WARMUP=true on ion-mentoring-api in all regions"
    assert (
        _first(week17, "day1.3", 3)
        == "Route 100% of ion-mentoring-api traffic in all regions to revision tag pool-canary"
    )
    assert _first(week17, "day7.1", 0) == (
        "Create Cloud SQL read replica ion-primary-small of ion-primary on tier db-custom-8-16384 (wait up to 30m)"
    )
    assert _first(week17, "day7.1", 3) == (
        "Promote Cloud SQL replica ion-primary-small to primary; ion-primary stays as the standby "
        "(a promotion cannot be undone)"
    )
    assert _first(week17, "day9.2") == (
        "Delete Cloud SQL instance ion-primary once ion-primary-small has been promoted for 48h (cannot be undone)"
    )
    assert _first(week17, "day2.3") == (
        "Schedule scaling of ion-mentoring-api in us-central1 (America/Chicago): 08:00-09:00 min 4/max 150; "
        "12:00-13:00 min 4/max 150; 17:00-18:00 min 3/max 120; otherwise min 2/max 80"
    )


def test_probe_and_sql_lines(week17: Runbook) -> None:
    assert _first(week17, "day2.1", 1) == (
        "Load test /api/v2/health at 5000 rps, concurrency 500, for 1h (at most 100000 requests); "
        "pass if p95 < 50 ms and error rate <= 0.5%"
    )
    assert _first(week17, "day2.2", 1) == (
        "Smoke test /api/v2/health: 100 requests, concurrency 10; pass if p95 < 50 ms and error rate <= 0%"
    )
    assert _first(week17, "day1.4") == "Benchmark 3 queries x20; pass if mean < 15 ms and p95 < 25 ms"
    assert _first(week17, "day1.2").startswith(
        "Execute: CREATE INDEX idx_persona_tone_pace_intent ON personas(tone, pace, intent) (undo: "
    )


def test_every_action_kind_in_the_seed_has_a_plan_line(week17: Runbook) -> None:
    seen = {action.kind: describe_action(action) for step in week17.steps() for action in step.actions}
    # Day 7 resizes through a replica now (as the seed says), so an in-place tier change is left to other runbooks.
    assert set(seen) == set(ACTION_KINDS) - {"cloud_sql.tier"}
    assert all(line and not line.startswith("<") for line in seen.values())


EXAMPLE = WEEK17.with_name("example.yaml")


def test_ionbot_list_shows_a_step_after_the_step_it_depends_on_even_without_a_window() -> None:
    from bot.runbook.describe import describe_outline

    outline = describe_outline(load_runbook(EXAMPLE))
    assert outline.index("step day2.1") < outline.index("step day2.2")
    assert outline.index("gate preflight") < outline.index("step day1.1")


def test_a_step_card_names_an_untitled_action_by_its_plan_line_not_its_kind() -> None:
    from bot.console.render import render_text
    from bot.slack.blocks import step_card
    from bot.slack.blocks.views import CardMeta, StepCardView

    step = load_runbook(EXAMPLE).step("day2.1")
    assert step is not None and step.actions[0].title is None
    card = render_text(step_card(StepCardView(meta=CardMeta(run_id="r", card_version=1), step=step)).payload())
    assert "• Scale demo-api in us-central1 to minInstances 1" in card
    assert "cloud_run.scale" not in card
