"""Each poll's verdict computed for a whole history at once equals ``evaluate`` called at that poll,
on series with gaps, values on the threshold, every mode and every window aggregate."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from bot.backtest.timeline import FALSE, TRUE, UNKNOWN, History, moment, poll_times, verdicts
from bot.engine.evaluator import Aggregate, evaluate, lookback
from bot.engine.ports import Point, Series
from bot.runbook.conditions import parse_condition
from tests.triggers.builders import T0

CONDITIONS = [
    "m > 10",
    "m >= 10 for 5m",
    "m < 10 for 3m",
    "m > baseline + 1 for 2m",
    "m > 10 over 10m",
    "m <= 10 over 30m",
    "m == 10",
    "m != 10 for 1m",
]
AGGREGATES: list[Aggregate] = ["mean", "max", "min", "last", "sum"]
STATE = {"true": TRUE, "false": FALSE, "unknown": UNKNOWN}


def noisy_series(seed: int, minutes: int = 400) -> Series:
    """Values around the threshold 10 (a quarter exactly on it), with gaps of 1 to 12 minutes."""
    rng = random.Random(seed)
    points: list[Point] = []
    at = T0 - timedelta(minutes=minutes)
    while at < T0:
        if rng.random() < 0.04:
            at += timedelta(minutes=rng.randint(1, 12))  # a gap
            continue
        value = 10.0 if rng.random() < 0.25 else rng.choice([0.1, 0.2, 0.3]) * rng.randint(20, 45)
        points.append(Point(at, value))
        at += timedelta(minutes=1)
    return Series("m", tuple(points), 60.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("text", CONDITIONS)
def test_every_poll_gets_the_evaluators_verdict(seed: int, text: str) -> None:
    condition = parse_condition(text)
    series = noisy_series(seed)
    history = History.of(series)
    polls = poll_times(T0 - timedelta(minutes=380), T0 + timedelta(minutes=5), timedelta(seconds=60))
    for aggregate in AGGREGATES if condition.mode == "over" else ["mean"]:
        got = verdicts(condition, history, 9.0, polls, aggregate)  # type: ignore[arg-type]
        for state, poll in zip(got, polls, strict=True):
            now = moment(int(poll))
            window = Series("m", tuple(p for p in series.points if now - lookback(condition) <= p.at <= now), 60.0)
            expected = evaluate(condition, window, 9.0, now, aggregate)  # type: ignore[arg-type]
            assert int(state) == STATE[expected.state], (text, aggregate, now, expected.detail)


def test_a_mean_exactly_on_the_threshold_is_judged_as_the_evaluator_sums_it() -> None:
    """0.1 + 0.2 + 0.3 summed in order is not 0.6 in floats; math.fsum is, and the watcher uses it."""
    values = [0.1, 0.2, 0.3] * 20
    points = tuple(Point(T0 - timedelta(minutes=len(values) - 1 - i), v) for i, v in enumerate(values))
    series = Series("m", points, 60.0)
    condition = parse_condition("m >= 12 over 1h")
    [state] = verdicts(condition, History.of(series), None, poll_times(T0, T0, timedelta(minutes=1)), "sum")
    assert evaluate(condition, series, None, T0, "sum").state == "true"
    assert state == TRUE


def test_a_relative_threshold_without_a_baseline_is_unknown_at_every_poll() -> None:
    condition = parse_condition("m < baseline - 5 for 5m")
    polls = poll_times(T0 - timedelta(minutes=30), T0, timedelta(minutes=1))
    assert set(verdicts(condition, History.of(noisy_series(1)), None, polls).tolist()) == {UNKNOWN}
