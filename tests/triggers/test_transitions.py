"""What one poll does to a trigger's alerts: open once, cool down, no-data, auto-rollback timing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.engine.evaluator import Evaluation
from bot.engine.ports import AlertRecord
from bot.engine.triggers import (
    Decision,
    TriggerContext,
    TriggerPolicy,
    acknowledge,
    decide,
    due_for_auto_rollback,
    hold,
)
from bot.runbook.models import Trigger
from tests.triggers.builders import T0, seed_runbook

RUNBOOK = seed_runbook(auto_rollback_after="15m")
ERROR_RATE = next(t for t in RUNBOOK.triggers if t.id == "error_rate")
P95 = next(t for t in RUNBOOK.triggers if t.id == "p95_latency")

BREACHING = Evaluation("true", 2.5, 1.0, timedelta(minutes=5), "error_rate_pct > 1 at every point for 5m")
HEALTHY = Evaluation("false", 0.3, 1.0, None, "error_rate_pct was 0.3")
UNKNOWN = Evaluation("unknown", None, 1.0, None, "no data for error_rate_pct in the last 3m")


def ctx(minutes: float = 0, new_id: str = "a1") -> TriggerContext:
    return TriggerContext(
        run_id="r1",
        now=T0 + timedelta(minutes=minutes),
        new_id=new_id,
        step_id="day2.1",
        default_auto_rollback=RUNBOOK.auto_rollback_after,
    )


def poll(
    trigger: Trigger,
    verdict: Evaluation,
    breach: AlertRecord | None = None,
    no_data: AlertRecord | None = None,
    unknown: int = 0,
    at: float = 0,
) -> Decision:
    return decide(trigger, verdict, breach, no_data, unknown, ctx(at), TriggerPolicy())


class TestBreach:
    def test_opens_an_alert_naming_trigger_value_threshold_and_duration(self) -> None:
        [change] = poll(ERROR_RATE, BREACHING).changes
        alert = change.alert
        assert change.kind == "opened"
        assert (alert.kind, alert.state, alert.trigger_id, alert.step_id) == (
            "breach",
            "open",
            "error_rate",
            "day2.1",
        )
        assert (alert.value, alert.threshold) == (2.5, 1.0)
        assert "Error rate" in alert.message and "2.5" in alert.message
        assert "threshold of 1" in alert.message and "for 5m" in alert.message
        assert alert.data["held_for_seconds"] == 300

    def test_does_not_fire_again_while_the_alert_is_open(self) -> None:
        alert = poll(ERROR_RATE, BREACHING).changes[0].alert
        for state in ("open", "acknowledged", "held"):
            changes = poll(ERROR_RATE, BREACHING, breach=replace(alert, state=state), at=1).changes
            assert [c.kind for c in changes] == ["still_breaching"]
            assert changes[0].alert.id == alert.id

    def test_resolves_only_after_the_cool_down_of_clear_polls(self) -> None:
        alert = poll(ERROR_RATE, BREACHING).changes[0].alert
        [clearing] = poll(ERROR_RATE, HEALTHY, breach=alert, at=1).changes
        assert clearing.kind == "clearing" and clearing.alert.clear_since == T0 + timedelta(minutes=1)
        assert poll(ERROR_RATE, HEALTHY, breach=clearing.alert, at=10).changes == []
        [resolved] = poll(ERROR_RATE, HEALTHY, breach=clearing.alert, at=11).changes
        assert resolved.kind == "resolved"
        assert resolved.alert.state == "resolved" and resolved.alert.resolved_at == T0 + timedelta(minutes=11)

    def test_a_breach_during_the_cool_down_restarts_it(self) -> None:
        alert = poll(ERROR_RATE, BREACHING).changes[0].alert
        clearing = poll(ERROR_RATE, HEALTHY, breach=alert, at=1).changes[0].alert
        [again] = poll(ERROR_RATE, BREACHING, breach=clearing, at=4).changes
        assert again.kind == "clear_reset" and again.alert.clear_since is None

    def test_missing_data_during_the_cool_down_restarts_it(self) -> None:
        alert = poll(ERROR_RATE, BREACHING).changes[0].alert
        clearing = poll(ERROR_RATE, HEALTHY, breach=alert, at=1).changes[0].alert
        changes = poll(ERROR_RATE, UNKNOWN, breach=clearing, at=5).changes
        assert [c.kind for c in changes] == ["clear_reset"]
        assert changes[0].alert.clear_since is None

    def test_healthy_without_an_alert_changes_nothing(self) -> None:
        assert poll(ERROR_RATE, HEALTHY) == Decision([], 0)


class TestNoData:
    def test_raises_a_separate_no_data_alert_after_three_unknown_polls(self) -> None:
        first = poll(ERROR_RATE, UNKNOWN)
        second = poll(ERROR_RATE, UNKNOWN, unknown=first.unknown_polls)
        assert first.changes == [] and second.changes == []
        third = poll(ERROR_RATE, UNKNOWN, unknown=second.unknown_polls)
        [change] = third.changes
        assert change.kind == "no_data_opened"
        assert change.alert.kind == "no_data" and change.alert.no_data_polls == 3
        assert "no usable data for error_rate_pct in 3 checks" in change.alert.message

    def test_unknown_is_never_a_breach(self) -> None:
        assert all(c.alert.kind != "breach" for c in poll(ERROR_RATE, UNKNOWN, unknown=10).changes)

    def test_resolves_the_no_data_alert_when_data_returns(self) -> None:
        no_data = poll(ERROR_RATE, UNKNOWN, unknown=2).changes[0].alert
        still = poll(ERROR_RATE, UNKNOWN, no_data=no_data, unknown=3, at=1)
        assert [c.kind for c in still.changes] == ["no_data_ongoing"]
        back = poll(ERROR_RATE, HEALTHY, no_data=no_data, unknown=4, at=2)
        assert [c.kind for c in back.changes] == ["no_data_resolved"]
        assert back.unknown_polls == 0

    def test_a_breach_when_data_returns_resolves_no_data_and_opens_the_alert(self) -> None:
        no_data = poll(ERROR_RATE, UNKNOWN, unknown=2).changes[0].alert
        kinds = [c.kind for c in poll(ERROR_RATE, BREACHING, no_data=no_data, at=3).changes]
        assert kinds == ["no_data_resolved", "opened"]

    def test_the_number_of_polls_is_configurable(self) -> None:
        decision = decide(ERROR_RATE, UNKNOWN, None, None, 0, ctx(), TriggerPolicy(no_data_after=1))
        assert [c.kind for c in decision.changes] == ["no_data_opened"]


class TestAutoRollback:
    def test_scheduled_after_the_triggers_own_delay(self) -> None:
        alert = poll(ERROR_RATE, BREACHING).changes[0].alert
        assert alert.auto_rollback_at == T0 + timedelta(minutes=5)

    def test_falls_back_to_the_runbooks_delay(self) -> None:
        verdict = Evaluation("true", 140.0, 100.0, timedelta(minutes=5), "")
        alert = poll(P95, verdict).changes[0].alert
        assert alert.auto_rollback_at == T0 + timedelta(minutes=15)

    def test_none_when_neither_trigger_nor_runbook_sets_a_delay(self) -> None:
        decision = decide(P95, BREACHING, None, None, 0, replace(ctx(), default_auto_rollback=None))
        assert decision.changes[0].alert.auto_rollback_at is None

    def test_due_only_once_the_time_has_come(self) -> None:
        alert = poll(ERROR_RATE, BREACHING).changes[0].alert
        assert not due_for_auto_rollback(alert, T0 + timedelta(minutes=4, seconds=59))
        assert due_for_auto_rollback(alert, T0 + timedelta(minutes=5))

    def test_acknowledging_does_not_stop_it_but_holding_does(self) -> None:
        alert = poll(ERROR_RATE, BREACHING).changes[0].alert
        later = T0 + timedelta(minutes=6)
        acked = acknowledge(alert, "U1", T0).alert
        assert acked.state == "acknowledged" and acked.acknowledged_by == "U1"
        assert due_for_auto_rollback(acked, later)
        held = hold(acked, "U2", T0).alert
        assert held.state == "held" and held.data["held_by"] == "U2"
        assert not due_for_auto_rollback(held, later)
        assert acknowledge(held, "U3", T0).alert.state == "held"

    def test_not_due_once_started_or_while_the_condition_is_clearing(self) -> None:
        alert = poll(ERROR_RATE, BREACHING).changes[0].alert
        later = T0 + timedelta(minutes=6)
        assert not due_for_auto_rollback(replace(alert, data={"auto_rollback_started_at": "x"}), later)
        assert not due_for_auto_rollback(replace(alert, clear_since=T0 + timedelta(minutes=1)), later)
