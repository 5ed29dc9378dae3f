"""Judging a condition against a metric series: true, false, or unknown when the data cannot say.

Pure functions of (condition, series, baseline, now). Missing data is never read as healthy and
never as a breach: it is "unknown", and the watcher alerts on it separately.

``for D`` is anchored at the newest point (Monitoring data lags a minute or two): it is true only
when an unbroken run of points that all satisfy the comparison spans at least D, so a breach
shorter than D never fires, whatever the sampling. ``MetricsChecker`` adds the reading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from bot.engine.ports import Breach, CheckResult, MetricsSource, Point, Series
from bot.runbook.conditions import OPERATORS, Condition, parse_condition
from bot.runbook.durations import format_duration
from bot.runbook.models import Environment, Metric, Runbook

State = Literal["true", "false", "unknown"]
Aggregate = Literal["mean", "max", "min", "last", "sum"]

GAP_FACTOR = 1.5  # a spacing wider than this many steps is a gap (missing data)
STALE_STEPS = 2.0  # the newest point may lag ``now`` by this many steps
MIN_COVERAGE = 0.5  # ``over W`` needs at least this share of the expected points


@dataclass(frozen=True)
class Evaluation:
    """The verdict on one condition. ``value`` is the figure that decided it (see ``evaluate``)."""

    state: State
    value: float | None
    threshold: float | None
    held_for: timedelta | None
    detail: str

    def to_check_result(self, condition: Condition) -> CheckResult:
        passed = None if self.state == "unknown" else self.state == "true"
        return CheckResult(
            condition=condition.text or str(condition),
            passed=passed,
            value=self.value,
            threshold=self.threshold,
            detail=self.detail,
        )


def evaluate(
    condition: Condition,
    series: Series,
    baseline: float | None,
    now: datetime,
    aggregate: Aggregate = "mean",
    zone: tzinfo = UTC,
) -> Evaluation:
    """Judge ``condition`` on ``series`` at ``now``; ``aggregate`` is the metric's window aggregate.

    ``value`` is: the latest point (latest); the window aggregate (over); for ``for``, the point
    nearest the threshold when true (every point was at least that far), the newest failing
    point when false.
    """
    limit = condition.threshold.resolve(baseline)
    if limit is None:
        return Evaluation(
            "unknown",
            None,
            None,
            None,
            f"{condition.metric} has no baseline, so '{condition}' cannot be judged",
        )
    points = sorted((p for p in series.points if p.at <= now and math.isfinite(p.value)), key=lambda p: p.at)
    step = timedelta(seconds=series.step_seconds)
    if condition.mode == "over":
        return _over(condition, points, limit, now, step, aggregate)
    if not points:
        return Evaluation("unknown", None, limit, None, f"no data for {condition.metric}")
    newest = points[-1]
    if now - newest.at > step * STALE_STEPS:
        age = format_duration(now - newest.at)
        return Evaluation("unknown", None, limit, None, f"no data for {condition.metric} in the last {age}")
    held = _held_for(condition, points, limit, step)
    if condition.mode == "latest":
        ok = _holds(condition, newest.value, limit)
        return Evaluation(
            "true" if ok else "false",
            newest.value,
            limit,
            held,
            f"{condition.metric} is {_fmt(newest.value)} ({condition.op} {_fmt(limit)}: {'yes' if ok else 'no'})",
        )
    assert condition.window is not None
    return _sustained(condition, points, limit, condition.window, step, held, zone)


def _sustained(
    condition: Condition,
    points: Sequence[Point],
    limit: float,
    window: timedelta,
    step: timedelta,
    held: timedelta | None,
    zone: tzinfo = UTC,
) -> Evaluation:
    newest = points[-1]
    span = format_duration(window)
    if held is not None and held >= window:
        run = [p for p in points if p.at >= newest.at - held]
        nearest = min(run, key=lambda p: abs(p.value - limit)).value
        return Evaluation(
            "true",
            nearest,
            limit,
            held,
            f"{condition.metric} {condition.op} {_fmt(limit)} at every point for {format_duration(held)} "
            f"(nearest {_fmt(nearest)}, latest {_fmt(newest.value)})",
        )
    start = newest.at - window
    failing = [p for p in points if p.at >= start and not _holds(condition, p.value, limit)]
    if failing:
        last = failing[-1]
        return Evaluation(
            "false",
            last.value,
            limit,
            held,
            f"{condition.metric} was {_fmt(last.value)} at {last.at.astimezone(zone):%H:%M %Z}, "
            f"not {condition.op} {_fmt(limit)}, within the last {span}",
        )
    covered = format_duration(held) if held is not None else "0s"
    return Evaluation(
        "unknown",
        newest.value,
        limit,
        held,
        f"{condition.metric} held for only {covered} of {span} before missing data; cannot tell yet",
    )


def _over(
    condition: Condition,
    points: Sequence[Point],
    limit: float,
    now: datetime,
    step: timedelta,
    aggregate: Aggregate,
) -> Evaluation:
    assert condition.window is not None
    window = condition.window
    inside = [p.value for p in points if now - window < p.at]  # (now - W, now]: W/step points
    expected = max(1.0, window / step)
    span = format_duration(window)
    if len(inside) < expected * MIN_COVERAGE:
        return Evaluation(
            "unknown",
            None,
            limit,
            None,
            f"only {len(inside)} of about {int(expected)} points of {condition.metric} in the last {span}",
        )
    value = _aggregate(inside, aggregate)
    ok = _holds(condition, value, limit)
    return Evaluation(
        "true" if ok else "false",
        value,
        limit,
        window if ok else None,
        f"{aggregate} of {condition.metric} over {span} is {_fmt(value)} "
        f"({condition.op} {_fmt(limit)}: {'yes' if ok else 'no'})",
    )


def _held_for(condition: Condition, points: Sequence[Point], limit: float, step: timedelta) -> timedelta | None:
    """How long the unbroken run of satisfying points ending at the newest point spans."""
    if not _holds(condition, points[-1].value, limit):
        return None
    first = points[-1]
    for earlier in reversed(points[:-1]):
        if first.at - earlier.at > step * GAP_FACTOR or not _holds(condition, earlier.value, limit):
            break
        first = earlier
    return points[-1].at - first.at


def _holds(condition: Condition, value: float, limit: float) -> bool:
    return OPERATORS[condition.op](value, limit)


def _aggregate(values: Sequence[float], how: Aggregate) -> float:
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    if how == "last":
        return values[-1]
    if how == "sum":
        return math.fsum(values)
    return math.fsum(values) / len(values)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0").rstrip(".")


def breach_spans(
    condition: Condition, series: Series, baseline: float | None, start: datetime, end: datetime
) -> list[Breach]:
    """Every span of [start, end] in which ``condition`` held: for ``for D`` an unbroken run of
    satisfying points spanning at least D, otherwise any satisfying point. A gap ends a run (missing
    data is never a breach). ``over`` conditions are judged on each point, like ``latest``."""
    limit = condition.threshold.resolve(baseline)
    if limit is None:
        return []
    points = sorted((p for p in series.points if start <= p.at <= end and math.isfinite(p.value)), key=lambda p: p.at)
    gap = timedelta(seconds=series.step_seconds) * GAP_FACTOR
    need = condition.window if condition.mode == "for" and condition.window is not None else timedelta(0)
    found: list[Breach] = []
    run: list[Point] = []
    for point in [*points, None]:
        holds = point is not None and _holds(condition, point.value, limit)
        if holds and point is not None and run and point.at - run[-1].at <= gap:
            run.append(point)
            continue
        if run and run[-1].at - run[0].at >= need:
            worst = max(run, key=lambda p: abs(p.value - limit)).value
            found.append(Breach(run[0].at, run[-1].at, worst))
        run = [point] if holds and point is not None else []
    return found


def lookback(condition: Condition, step_seconds: float = 60.0) -> timedelta:
    """How far back to read so ``condition`` can be judged at ``now`` (window plus lag and slack)."""
    slack = timedelta(seconds=step_seconds * (STALE_STEPS + 1))
    return (condition.window or timedelta(0)) + slack


# --- incidents as a metric ------------------------------------------------------------------


class IncidentCounter(Protocol):
    """Open production incidents (declared in chat, or from a paging system)."""

    async def count_open(self, run_id: str | None, at: datetime) -> int: ...

    async def opened_times(self, run_id: str | None) -> list[datetime]:
        """When each incident still open was declared (the bot knows them all: no gaps)."""
        ...


class IncidentSeries:
    """The ``incidents`` metric: the open-incident count at every step of the window.

    The bot records every incident it is told of, so the series has no gaps: a gate asking
    ``incidents == 0 over 24h`` gets a full day of points, not one.
    """

    def __init__(self, counter: IncidentCounter, run_id: str | None = None, step_seconds: float = 60.0) -> None:
        self._counter = counter
        self._run_id = run_id
        self._step = step_seconds

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        opened = sorted(await self._counter.opened_times(self._run_id))
        step = timedelta(seconds=self._step)
        points: list[Point] = []
        at = end
        while at >= start:
            points.append(Point(at, float(sum(1 for when in opened if when <= at))))
            at -= step
        return Series(metric.id, tuple(reversed(points)), self._step)


# --- the ConditionChecker the engine's gates and metric.gate actions use --------------------


class MetricsChecker:
    """Reads the window a condition needs from a MetricsSource and evaluates it."""

    def __init__(self, source: MetricsSource, runbook: Runbook, incidents: IncidentCounter | None = None) -> None:
        self._source = source
        self._runbook = runbook
        self._incidents = IncidentSeries(incidents) if incidents is not None else None

    async def check(self, condition: Any, environment: Environment, now: datetime) -> CheckResult:
        parsed = condition if isinstance(condition, Condition) else parse_condition(str(condition))
        metric = self._runbook.metric(parsed.metric)
        if metric is None:
            return _unknown(parsed, f"{parsed.metric} is not in the runbook's metric catalogue; add it there")
        source: MetricsSource | IncidentSeries = self._source
        if metric.source == "incidents":
            if self._incidents is None:
                return _unknown(parsed, "no incident source is configured, so open incidents cannot be counted")
            source = self._incidents
        try:
            series = await source.read(metric, environment, now - lookback(parsed), now)
        except Exception as exc:  # an unreadable metric is unknown, never a pass
            return _unknown(parsed, f"could not read {metric.id}: {exc}")
        zone = ZoneInfo(self._runbook.calendar.timezone)  # the run's zone, as every other time it shows
        verdict = evaluate(parsed, series, metric.baseline, now, metric.window_aggregate, zone)
        return verdict.to_check_result(parsed)

    async def breaches(
        self, condition: Any, environment: Environment, start: datetime, end: datetime
    ) -> list[Breach] | None:
        """Where ``condition`` held in [start, end] (a gate's phase window); None when unreadable."""
        parsed = condition if isinstance(condition, Condition) else parse_condition(str(condition))
        metric = self._runbook.metric(parsed.metric)
        if metric is None:
            return None
        source: MetricsSource | IncidentSeries = self._source
        if metric.source == "incidents":
            if self._incidents is None:
                return None
            source = self._incidents
        try:
            series = await source.read(metric, environment, start, end)
        except Exception:  # an unreadable metric is unknown, never "no breach"
            return None
        return breach_spans(parsed, series, metric.baseline, start, end)


def _unknown(condition: Condition, detail: str) -> CheckResult:
    return CheckResult(condition.text or str(condition), None, None, None, detail)
