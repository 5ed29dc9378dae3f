"""A gate's health check is a metric condition or a count of the run's record, never both or neither."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.runbook.loader import load_runbook
from bot.runbook.models import HealthCheck

WEEK17 = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"


def test_a_health_check_needs_exactly_one_of_condition_or_counts() -> None:
    assert HealthCheck(label="No production incidents", counts="incidents").condition is None
    for both_or_neither in ({}, {"condition": "incidents == 0", "counts": "incidents"}):
        with pytest.raises(ValidationError, match="exactly one of 'condition' or 'counts'"):
            HealthCheck.model_validate({"label": "x", **both_or_neither})
    with pytest.raises(ValidationError):
        HealthCheck.model_validate({"label": "x", "counts": "everything"})


def test_week17s_decision_points_count_their_phase_and_the_preflight_asks_for_a_clean_backtest() -> None:
    runbook = load_runbook(WEEK17)
    counts = {g.id: [h.counts for h in g.health_checks if h.counts] for g in runbook.gates}
    assert counts == {
        "preflight": ["triggers_backtested"],
        "gonogo.day3": ["incidents", "trigger_breaches", "steps_done"],
        "gonogo.day7": ["trigger_breaches", "steps_done"],
        "gonogo.day10": ["incidents", "steps_done"],
    }


def test_week17s_preflight_labels_its_backtest_check_as_the_issue_words_it() -> None:
    preflight = load_runbook(WEEK17).gate("preflight")
    assert preflight is not None
    backtested = [h.label for h in preflight.health_checks if h.counts == "triggers_backtested"]
    assert backtested == ["Triggers backtested in the last 7 days with no red line"]
