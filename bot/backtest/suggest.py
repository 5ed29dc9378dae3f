"""A threshold (and a ``for`` window) that would have fired at most once a week on this history.

For each poll the figure the condition compares is worked out once (for ``> X for D``: the lowest
value of the unbroken run of the last D, so the condition holds exactly when that figure is over X);
a binary search over those figures finds the tightest threshold whose firings, merged by the
cool-down as the watcher merges them, stay within one a week. The pick, rounded to a readable
number, is then replayed through the real alert rules, and loosened until that count agrees.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np

from bot.backtest.timeline import US, Floats, History, Ints, window_aggregates
from bot.engine.evaluator import GAP_FACTOR, STALE_STEPS, Aggregate
from bot.runbook.conditions import Condition, Threshold

WINDOWS = tuple(timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30, 60))
UPWARD = (">", ">=")
DOWNWARD = ("<", "<=")


@dataclass(frozen=True)
class Suggestion:
    text: str  # one sentence for the report
    condition: str | None  # the suggested condition, None when none would do


def suggest(
    condition: Condition,
    history: History,
    baseline: float | None,
    polls: Ints,
    aggregate: Aggregate,
    weeks: float,
    cool_down: timedelta,
    count_firings: Callable[[Condition], int],
) -> Suggestion:
    allowed = max(1, math.floor(weeks))
    if condition.op not in UPWARD + DOWNWARD or not len(history.times):
        return Suggestion("No threshold can be suggested: " + _why_not(condition, history), None)
    interval = int(polls[1] - polls[0]) if len(polls) > 1 else 60_000_000
    gap_polls = cool_down // US // interval + 2  # a new alert needs the old one resolved first
    window = condition.window if condition.mode != "latest" else None
    figures = _figures(condition, history, polls, window, aggregate)
    threshold = _tightest(condition.op, figures, allowed, gap_polls)
    if threshold is None:
        return Suggestion("No threshold would have fired at most once a week: the history has no usable data.", None)
    for _ in range(8):
        proposed = _with_threshold(condition, threshold, baseline)
        fired = count_firings(proposed)
        if fired <= allowed:
            times = "time" if fired == 1 else "times"
            text = f"`{proposed}` would have fired {fired} {times} in {weeks:g} weeks"
            over = count_firings(condition) > allowed
            longer = (
                _longer_window(condition, history, baseline, polls, aggregate, allowed, gap_polls) if over else None
            )
            if longer is not None and count_firings(replace(condition, window=longer)) <= allowed:
                keep = replace(condition, window=longer, text="")
                text += f"; or keep the threshold with `{keep}`"
            return Suggestion(text + ".", str(proposed))
        step = _unit(threshold)
        threshold = _nice(threshold + step if condition.op in UPWARD else threshold - step, condition.op)
    return Suggestion("No readable threshold near the data would have fired at most once a week.", None)


def _why_not(condition: Condition, history: History) -> str:
    if not len(history.times):
        return f"{condition.metric} had no data in the period."
    return f"'{condition.op}' compares with one exact value; only >, >=, < and <= have a threshold to move."


def _figures(
    condition: Condition, history: History, polls: Ints, window: timedelta | None, aggregate: Aggregate
) -> Floats:
    """Per poll, the figure compared with the threshold; NaN when the poll could not be judged."""
    times, values = history.times, history.values
    hi = np.searchsorted(times, polls, side="right")
    if condition.mode == "over":
        assert window is not None
        lo = np.searchsorted(times, polls - window // US, side="right")
        figures = window_aggregates(values, lo, hi, aggregate)
        expected = max(1.0, window / timedelta(microseconds=history.step_us))
        return np.where(hi - lo >= expected * 0.5, figures, np.nan)
    newest = hi - 1
    stale = (timedelta(microseconds=history.step_us) * STALE_STEPS) // US
    safe = np.maximum(newest, 0)
    fresh = (newest >= 0) & (polls - times[safe] <= stale)
    if window is None:
        return np.where(fresh, values[safe], np.nan)
    # the run must reach back to a point at or before newest - D, without a gap
    first = np.searchsorted(times, times[safe] - window // US, side="right") - 1
    gap = (timedelta(microseconds=history.step_us) * GAP_FACTOR) // US
    gaps = np.concatenate(([0], np.cumsum(np.diff(times) > gap)))
    whole = fresh & (first >= 0) & (gaps[safe] == gaps[np.maximum(first, 0)])
    how: Aggregate = "min" if condition.op in UPWARD else "max"
    extreme = window_aggregates(values, np.maximum(first, 0), safe + 1, how)
    return np.where(whole, extreme, np.nan)


def _episodes(mask: np.ndarray, gap_polls: int) -> int:
    """Alerts a true/false mask makes once true stretches closer than a cool-down are merged."""
    hits = np.flatnonzero(mask)
    return 0 if not len(hits) else 1 + int(np.count_nonzero(np.diff(hits) >= gap_polls))


def _fires(op: str, figures: Floats, threshold: float, gap_polls: int) -> int:
    with np.errstate(invalid="ignore"):
        mask = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}[op](figures, threshold)
    return _episodes(mask, gap_polls)


def _tightest(op: str, figures: Floats, allowed: int, gap_polls: int) -> float | None:
    """The threshold nearest normal traffic whose firings stay within ``allowed`` (before rounding)."""
    known = np.unique(figures[~np.isnan(figures)])
    if not len(known):
        return None
    upward = op in UPWARD
    candidates = known if upward else known[::-1]
    lo, hi = 0, len(candidates) - 1
    if _fires(op, figures, _nice(float(candidates[hi]), op), gap_polls) > allowed:
        return _nice(float(candidates[hi]), op)
    while lo < hi:  # the first candidate (from the tight end) that fires few enough times
        mid = (lo + hi) // 2
        if _fires(op, figures, float(candidates[mid]), gap_polls) <= allowed:
            hi = mid
        else:
            lo = mid + 1
    return _nice(float(candidates[lo]), op)


def _unit(value: float) -> float:
    """The rounding step of a value: two significant figures."""
    return 10.0 ** (math.floor(math.log10(abs(value))) - 1) if value else 0.01


def _nice(value: float, op: str) -> float:
    """Rounded to two significant figures, away from firing (up for '>', down for '<')."""
    unit = _unit(value)
    steps = value / unit
    rounded = math.ceil(steps - 1e-9) if op in UPWARD else math.floor(steps + 1e-9)
    return round(rounded * unit, 10)


def _with_threshold(condition: Condition, value: float, baseline: float | None) -> Condition:
    if condition.threshold.relative_to_baseline and baseline is not None:
        threshold = Threshold(round(value - baseline, 10), relative_to_baseline=True)
    else:
        threshold = Threshold(value)
    changed = replace(condition, threshold=threshold, text="")
    return replace(changed, text=str(changed))


def _longer_window(
    condition: Condition,
    history: History,
    baseline: float | None,
    polls: Ints,
    aggregate: Aggregate,
    allowed: int,
    gap_polls: int,
) -> timedelta | None:
    """The shortest longer ``for`` window that keeps today's threshold within the allowance."""
    limit = condition.threshold.resolve(baseline)
    if condition.mode != "for" or condition.window is None or limit is None:
        return None
    for window in WINDOWS:
        if window <= condition.window:
            continue
        figures = _figures(condition, history, polls, window, aggregate)
        if _fires(condition.op, figures, limit, gap_polls) <= allowed:
            return window
    return None
