"""The evaluator's verdicts: truth tables for each mode, and properties over random series."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.evaluator import breach_spans, evaluate
from bot.engine.ports import Point, Series
from bot.runbook.conditions import parse_condition
from tests.triggers.builders import T0, series

ERROR_RATE = parse_condition("error_rate_pct > 1 for 5m")
HIT_DROP = parse_condition("cache_hit_rate_pct < baseline - 5 for 5m")


class TestSustainedConditions:
    @pytest.mark.parametrize(
        ("values", "state"),
        [
            ([2.0] * 6, "true"),  # six points span exactly 5 minutes
            ([2.0] * 5, "unknown"),  # series starts 4 minutes ago: cannot tell yet
            ([0.3] + [2.0] * 5, "false"),  # the breach is only 4 minutes long
            ([0.3] * 5 + [2.0], "false"),  # a single spike never fires
            ([2.0] * 3 + [0.3] + [2.0] * 2, "false"),
            ([0.3] * 6, "false"),
            ([2.0, 2.0, None, 2.0, 2.0, 2.0], "unknown"),  # a gap inside the window
            ([2.0, 2.0, 2.0, None, 0.3, 2.0], "false"),  # a clearly false point decides despite the gap
            ([2.0] * 10, "true"),
        ],
    )
    def test_verdict_follows_every_point_of_the_window(self, values: list[float | None], state: str) -> None:
        assert evaluate(ERROR_RATE, series(values), None, T0).state == state

    def test_true_names_the_threshold_and_how_long_it_held(self) -> None:
        verdict = evaluate(ERROR_RATE, series([0.2, 1.8, 2.5, 2.4, 2.6, 2.2, 2.9]), None, T0)
        assert verdict.state == "true"
        assert verdict.threshold == 1.0
        assert verdict.held_for == timedelta(minutes=5)
        assert verdict.value == 1.8  # the point nearest the threshold: every point was at least this

    def test_a_false_verdict_says_when_in_the_runs_zone_not_utc(self) -> None:
        verdict = evaluate(ERROR_RATE, series([2.0] * 5 + [0.3]), None, T0, zone=ZoneInfo("America/Chicago"))
        assert verdict.state == "false"
        assert "error_rate_pct was 0.3 at 14:00 CST" in verdict.detail and "UTC" not in verdict.detail

    def test_newest_point_two_steps_old_still_counts(self) -> None:
        verdict = evaluate(ERROR_RATE, series([2.0] * 6), None, T0 + timedelta(minutes=2))
        assert verdict.state == "true"

    def test_stale_data_is_unknown_not_healthy(self) -> None:
        verdict = evaluate(ERROR_RATE, series([0.3] * 6), None, T0 + timedelta(minutes=3))
        assert verdict.state == "unknown"
        assert "no data" in verdict.detail

    def test_empty_series_is_unknown(self) -> None:
        assert evaluate(ERROR_RATE, Series("error_rate_pct", ()), None, T0).state == "unknown"

    def test_relative_threshold_resolves_against_the_baseline(self) -> None:
        dropped = evaluate(HIT_DROP, series([76.0] * 6), 82.3, T0)
        assert dropped.state == "true"
        assert dropped.threshold == pytest.approx(77.3)
        assert evaluate(HIT_DROP, series([80.0] * 6), 82.3, T0).state == "false"

    def test_relative_threshold_without_a_baseline_is_unknown(self) -> None:
        verdict = evaluate(HIT_DROP, series([10.0] * 6), None, T0)
        assert verdict.state == "unknown"
        assert "no baseline" in verdict.detail


class TestLatestConditions:
    @pytest.mark.parametrize(
        ("text", "values", "state"),
        [
            ("incidents > 0", [0, 0, 1], "true"),
            ("incidents > 0", [1, 1, 0], "false"),
            ("p95_latency_ms <= 50", [40.0], "true"),
            ("p95_latency_ms == 50", [50.0], "true"),
            ("p95_latency_ms != 50", [50.0], "false"),
            ("p95_latency_ms >= 50", [49.9], "false"),
        ],
    )
    def test_compares_the_newest_point(self, text: str, values: list[float], state: str) -> None:
        verdict = evaluate(parse_condition(text), series(values), None, T0)
        assert verdict.state == state
        assert verdict.value == values[-1]

    def test_newest_point_older_than_two_steps_is_unknown(self) -> None:
        condition = parse_condition("incidents > 0")
        assert evaluate(condition, series([1.0]), None, T0 + timedelta(seconds=121)).state == "unknown"
        assert evaluate(condition, series([1.0]), None, T0 + timedelta(seconds=120)).state == "true"

    def test_points_after_now_are_ignored(self) -> None:
        condition = parse_condition("incidents > 0")
        assert evaluate(condition, series([0.0, 1.0]), None, T0 - timedelta(minutes=1)).state == "false"


class TestWindowAggregates:
    @pytest.mark.parametrize(
        ("aggregate", "expected", "state"),
        [
            ("mean", 40.0, "false"),
            ("max", 60.0, "true"),
            ("min", 20.0, "false"),
            ("last", 20.0, "false"),
            ("sum", 400.0, "true"),
        ],
    )
    def test_compares_the_metrics_aggregate_once(self, aggregate: str, expected: float, state: str) -> None:
        condition = parse_condition("p95_latency_ms > 50 over 10m")
        values = [40.0, 60.0, 40.0, 40.0, 40.0, 40.0, 40.0, 40.0, 40.0, 20.0]  # mean 40 over the window
        verdict = evaluate(condition, series([99.0, *values]), None, T0, aggregate)  # type: ignore[arg-type]
        assert verdict.value == pytest.approx(expected)
        assert verdict.state == state

    def test_window_under_half_covered_is_unknown(self) -> None:
        condition = parse_condition("p95_latency_ms < 50 over 10m")
        assert evaluate(condition, series([30.0] * 4), None, T0).state == "unknown"
        assert evaluate(condition, series([30.0] * 5), None, T0).state == "true"


# --- properties ----------------------------------------------------------------------------

healthy_values = st.floats(min_value=0.0, max_value=1.0)
breach_values = st.floats(min_value=1.0001, max_value=100.0)


@settings(max_examples=150, deadline=None)
@given(
    before=st.lists(healthy_values, min_size=1, max_size=10),
    breach=st.lists(breach_values, min_size=1, max_size=5),
    after=st.lists(healthy_values, max_size=5),
    lag=st.integers(min_value=0, max_value=400),
)
def test_a_breach_shorter_than_for_never_fires(
    before: list[float], breach: list[float], after: list[float], lag: int
) -> None:
    # five breaching points one minute apart span four minutes: shorter than "for 5m"
    verdict = evaluate(ERROR_RATE, series([*before, *breach, *after]), None, T0 + timedelta(seconds=lag))
    assert verdict.state != "true"


@settings(max_examples=150, deadline=None)
@given(values=st.lists(healthy_values, min_size=1, max_size=30), lag=st.integers(min_value=0, max_value=400))
def test_a_healthy_series_never_fires(values: list[float], lag: int) -> None:
    assert evaluate(ERROR_RATE, series(values), None, T0 + timedelta(seconds=lag)).state != "true"


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(breach_values, min_size=8, max_size=20),
    gap_at=st.integers(min_value=1, max_value=4),
    gap_len=st.integers(min_value=1, max_value=3),
)
def test_a_gap_never_counts_as_healthy(values: list[float], gap_at: int, gap_len: int) -> None:
    """Breaching points around a gap inside the window: neither healthy nor a breach, but unknown."""
    holed: list[float | None] = list(values)
    for i in range(gap_at, min(len(holed) - 1, gap_at + gap_len)):
        holed[len(holed) - 1 - i] = None
    verdict = evaluate(ERROR_RATE, series(holed), None, T0)
    assert verdict.state == "unknown"


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(min_value=0, max_value=100), min_size=6, max_size=6))
def test_for_fires_exactly_when_every_point_of_the_window_breaches(values: list[float]) -> None:
    verdict = evaluate(ERROR_RATE, series(values), None, T0)
    assert (verdict.state == "true") == all(v > 1 for v in values)
    assert verdict.state in ("true", "false")


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(min_value=0, max_value=100), min_size=5, max_size=10))
def test_over_window_compares_the_mean_of_the_points_inside(values: list[float]) -> None:
    condition = parse_condition("p95_latency_ms > 50 over 10m")
    verdict = evaluate(condition, series(values), None, T0)
    assert verdict.value == pytest.approx(sum(values) / len(values))
    assert (verdict.state == "true") == (verdict.value is not None and verdict.value > 50)


def test_unsorted_points_are_read_in_time_order() -> None:
    shuffled = Series("m", tuple(reversed(series([2.0] * 6).points)), 60.0)
    assert evaluate(ERROR_RATE, shuffled, None, T0).state == "true"
    assert isinstance(shuffled.points[0], Point)


class TestBreachesInAWindow:
    """What a decision point reads: every span of its phase in which a trigger held, not a mean."""

    def test_a_ten_minute_spike_inside_a_quiet_day_is_one_breach_with_its_worst_value(self) -> None:
        values = [0.2] * 60 + [2.0, 2.5, 3.1, 2.2, 2.0, 2.4, 2.1, 2.0, 2.3, 2.6] + [0.2] * 60
        found = breach_spans(ERROR_RATE, series(values), None, T0 - timedelta(hours=3), T0)
        assert [(b.end - b.start, b.worst) for b in found] == [(timedelta(minutes=9), 3.1)]

    def test_a_breach_shorter_than_its_duration_or_broken_by_a_gap_is_not_counted(self) -> None:
        short = [0.2] * 10 + [2.0] * 5 + [0.2] * 10  # 4 minutes
        gapped = [0.2] * 10 + [2.0] * 4 + [None] + [2.0] * 4 + [0.2] * 10
        for values in (short, gapped):
            assert breach_spans(ERROR_RATE, series(values), None, T0 - timedelta(hours=1), T0) == []

    def test_two_breaches_are_two_spans_and_a_baseline_condition_resolves_its_threshold(self) -> None:
        values = [82.0] * 5 + [70.0] * 6 + [82.0] * 5 + [75.0] * 7
        found = breach_spans(HIT_DROP, series(values), 82.3, T0 - timedelta(hours=1), T0)
        assert [b.worst for b in found] == [70.0, 75.0]
