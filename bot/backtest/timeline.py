"""Every poll's verdict on one condition over a whole history, computed at once.

The watcher calls ``bot.engine.evaluator.evaluate`` once per poll on the window it read; replaying
four weeks that way is 40,000 calls per condition. Here the evaluator's rules (staleness, ``for``
runs broken by gaps, ``over`` coverage, the window aggregate) are applied to all polls together with
numpy, on exact integer microseconds. Sums and means near the threshold (where the order of a float
sum could flip the comparison) are judged again by ``evaluate`` itself, so the verdicts are the
watcher's, poll for poll; tests/backtest holds the two to that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from bot.engine.evaluator import GAP_FACTOR, MIN_COVERAGE, STALE_STEPS, Aggregate, evaluate
from bot.engine.ports import Point, Series
from bot.runbook.conditions import Condition

FALSE, TRUE, UNKNOWN = 0, 1, 2
US = timedelta(microseconds=1)
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
States = npt.NDArray[np.int8]

_COMPARE = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_BORDERLINE = 1e-7  # relative distance from the threshold at which a summed aggregate is re-judged exactly


@dataclass(frozen=True)
class History:
    """One metric's points as arrays: times in microseconds since the epoch (sorted), finite values."""

    times: Ints
    values: Floats
    step_us: int

    @classmethod
    def of(cls, series: Series) -> History:
        points = sorted((p for p in series.points if math.isfinite(p.value)), key=lambda p: p.at)
        times = np.fromiter((micros(p.at) for p in points), dtype=np.int64, count=len(points))
        values = np.fromiter((p.value for p in points), dtype=np.float64, count=len(points))
        return cls(times, values, int(timedelta(seconds=series.step_seconds) // US))

    def series(self, metric: str, lo: int, hi: int) -> Series:
        """Points ``lo:hi`` as a Series again (for the exact re-judging of borderline polls)."""
        pairs = zip(self.times[lo:hi], self.values[lo:hi], strict=True)
        points = tuple(Point(moment(int(t)), float(v)) for t, v in pairs)
        return Series(metric, points, self.step_us / 1e6)


def micros(at: datetime) -> int:
    return (at - EPOCH) // US


def moment(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def poll_times(start: datetime, end: datetime, interval: timedelta) -> Ints:
    """The watcher's polls in [start, end]: every ``interval`` on the interval's own grid (on the minute)."""
    step = interval // US
    first = -(-micros(start) // step) * step
    return np.arange(first, micros(end) + 1, step, dtype=np.int64)


def verdicts(
    condition: Condition, history: History, baseline: float | None, polls: Ints, aggregate: Aggregate = "mean"
) -> States:
    """The state ``evaluate`` gives at each poll: FALSE, TRUE or UNKNOWN (int8)."""
    limit = condition.threshold.resolve(baseline)
    if limit is None:
        return np.full(len(polls), UNKNOWN, dtype=np.int8)
    if condition.mode == "over":
        return _over(condition, history, limit, baseline, polls, aggregate)
    newest = np.searchsorted(history.times, polls, side="right") - 1
    step = timedelta(microseconds=history.step_us)
    stale = (step * STALE_STEPS) // US
    has = newest >= 0
    safe = np.where(has, newest, 0)
    fresh = has & (polls - history.times[safe] <= stale) if len(history.times) else has
    states = np.full(len(polls), UNKNOWN, dtype=np.int8)
    if not len(history.times):
        return states
    holds = _COMPARE[condition.op](history.values, limit)
    if condition.mode == "latest":
        states[fresh] = np.where(holds[safe[fresh]], TRUE, FALSE)
        return states
    assert condition.window is not None
    window = condition.window // US
    held = held_spans(history, holds)
    last_fail = np.maximum.accumulate(np.where(holds, -1, np.arange(len(holds))))
    at = safe[fresh]
    true = holds[at] & (held[at] >= window)
    failing = last_fail[at]
    false = ~true & (failing >= 0) & (history.times[np.maximum(failing, 0)] >= history.times[at] - window)
    states[fresh] = np.where(true, TRUE, np.where(false, FALSE, UNKNOWN))
    return states


def held_spans(history: History, holds: npt.NDArray[np.bool_]) -> Ints:
    """For each point, how long the unbroken run of satisfying points ending there spans (a gap wider
    than ``GAP_FACTOR`` steps breaks it), as the evaluator's ``_held_for`` walks it back."""
    n = len(holds)
    gap = (timedelta(microseconds=history.step_us) * GAP_FACTOR) // US
    index = np.arange(n)
    wide = np.ones(n, dtype=bool)
    wide[1:] = np.diff(history.times) > gap
    starts = holds & (wide | ~np.concatenate(([False], holds[:-1])))
    first = np.maximum.accumulate(np.where(starts, index, -1))
    return np.where(holds & (first >= 0), history.times - history.times[np.maximum(first, 0)], -1)


def _over(
    condition: Condition,
    history: History,
    limit: float,
    baseline: float | None,
    polls: Ints,
    aggregate: Aggregate,
) -> States:
    assert condition.window is not None
    window = condition.window
    expected = max(1.0, window / timedelta(microseconds=history.step_us))
    hi = np.searchsorted(history.times, polls, side="right")
    lo = np.searchsorted(history.times, polls - window // US, side="right")
    count = hi - lo
    enough = count >= expected * MIN_COVERAGE
    states = np.full(len(polls), UNKNOWN, dtype=np.int8)
    if not enough.any():
        return states
    values = window_aggregates(history.values, lo, hi, aggregate)
    judged = _COMPARE[condition.op](values, limit)
    states[enough] = np.where(judged[enough], TRUE, FALSE)
    if aggregate in ("mean", "sum"):  # a float sum's order may differ from math.fsum: ask evaluate
        near = enough & (np.abs(values - limit) <= _BORDERLINE * max(1.0, abs(limit)))
        for i in np.flatnonzero(near):
            part = history.series(condition.metric, int(lo[i]), int(hi[i]))
            verdict = evaluate(condition, part, baseline, moment(int(polls[i])), aggregate)
            states[i] = {"true": TRUE, "false": FALSE}.get(verdict.state, UNKNOWN)
    return states


def window_aggregates(values: Floats, lo: Ints, hi: Ints, how: Aggregate) -> Floats:
    """The aggregate of ``values[lo:hi]`` for every (lo, hi); NaN where the range is empty."""
    count = hi - lo
    out = np.full(len(lo), np.nan)
    filled = count > 0
    if not len(values) or not filled.any():
        return out
    if how in ("mean", "sum"):
        sums = np.concatenate(([0.0], np.cumsum(values)))
        total = sums[hi] - sums[lo]
        out[filled] = (total / np.maximum(count, 1) if how == "mean" else total)[filled]
        return out
    if how == "last":
        out[filled] = values[hi[filled] - 1]
        return out
    ufunc = np.maximum if how == "max" else np.minimum
    padded = np.concatenate((values, [values[-1]]))  # reduceat needs every index < len
    pairs = np.ravel(np.column_stack((lo[filled], hi[filled])))
    out[filled] = ufunc.reduceat(padded, pairs)[::2]
    return out
