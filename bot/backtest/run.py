"""A backtest from fetched history: every subject judged at every poll, replayed, counted and judged.

Pure computation (no I/O): ``backtest`` takes the series history.py fetched and returns a Result that
report.py renders and store.py summarises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from bot.backtest.lifecycle import Span, replay
from bot.backtest.stats import Distribution, distribution, flaps, heat, local_cells, stretches, weekly_pattern
from bot.backtest.subjects import Subject
from bot.backtest.suggest import Suggestion, suggest
from bot.backtest.timeline import TRUE, UNKNOWN, US, History, Ints, States, micros, poll_times, verdicts
from bot.backtest.verdicts import Facts, Verdict, judge
from bot.engine.triggers import TriggerPolicy
from bot.runbook.conditions import Condition
from bot.runbook.models import Metric, Runbook, Trigger

FLAP_WINDOW = timedelta(minutes=15)  # the cool-down is 10: resolved by then means clear within 5


@dataclass(frozen=True)
class Line:
    """One condition's backtest."""

    subject: Subject
    limit: float | None
    polls: int
    unknown_share: float
    pass_share: float  # share of judged polls on which the condition held
    firings: tuple[Span, ...]  # alerts (triggers), failing stretches (gates, acceptance)
    firing_seconds: float  # how long they lasted in all (an alert still open counts to the end)
    no_data: tuple[Span, ...]  # stretches of polls that could not be judged
    no_data_alerts: int
    flaps: int
    heat: tuple[float, ...]  # minutes firing per weekday-and-hour cell (Monday 00:00 first)
    values: Distribution | None
    gate_days: tuple[int, int]  # (failed, judged) working days at the gate's own time
    pattern: str | None
    suggestion: Suggestion | None
    verdict: Verdict


@dataclass(frozen=True)
class Result:
    runbook_id: str
    environment: str
    start: datetime
    end: datetime
    interval: timedelta
    lines: tuple[Line, ...]
    skipped: tuple[str, ...] = ()
    calls: int = 0
    points: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def weeks(self) -> float:
        return round((self.end - self.start) / timedelta(days=7), 1)

    def red(self) -> list[Line]:
        return [line for line in self.lines if line.verdict.colour == "red"]


def backtest(
    runbook: Runbook,
    subjects: list[Subject],
    histories: Mapping[str, History],
    environment: str,
    start: datetime,
    end: datetime,
    *,
    policy: TriggerPolicy = TriggerPolicy(),
    flap_window: timedelta = FLAP_WINDOW,
) -> Result:
    """Judge every subject on ``histories`` (metric id -> History) at the watcher's polls in [start, end]."""
    interval = runbook.schedule.watch_interval
    polls = poll_times(start, end, interval)
    zone = ZoneInfo(runbook.calendar.timezone)
    cells = local_cells(polls, zone)
    lines = []
    for subject in subjects:
        metric = runbook.metric(subject.condition.metric)
        assert metric is not None  # subjects() keeps only catalogue metrics
        history = histories[metric.id]
        lines.append(_line(runbook, subject, metric, history, polls, cells, start, end, policy, flap_window))
    return Result(runbook.id, environment, start, end, interval, tuple(lines))


def _line(
    runbook: Runbook,
    subject: Subject,
    metric: Metric,
    history: History,
    polls: Ints,
    cells: Ints,
    start: datetime,
    end: datetime,
    policy: TriggerPolicy,
    flap_window: timedelta,
) -> Line:
    zone = ZoneInfo(runbook.calendar.timezone)
    interval_us = runbook.schedule.watch_interval // US
    states = verdicts(subject.condition, history, metric.baseline, polls, metric.window_aggregate)
    limit = subject.condition.threshold.resolve(metric.baseline)
    unknown = states == UNKNOWN
    judged = max(1, int(np.count_nonzero(~unknown)))
    weeks = (end - start) / timedelta(days=7)
    inside = (history.times >= micros(start)) & (history.times <= micros(end))
    firings, firing_mask, no_data_alerts, suggestion = _firings(
        subject, metric, history, polls, states, limit, weeks, end, policy, interval_us
    )
    gate_days = _gate_days(subject, states, polls, zone, runbook) if subject.role == "gate" else (0, 0)
    pattern = weekly_pattern(firings, zone, end) if subject.alerting else None
    flapped = flaps(firings, flap_window) if subject.alerting else 0
    no_data = tuple(stretches(unknown, polls, interval_us))
    facts = Facts(
        role=subject.role,
        text=subject.text,
        weeks=round(weeks, 1),
        period=end - start,
        unknown_share=float(np.count_nonzero(unknown)) / max(1, len(polls)),
        has_data=bool(np.any(inside)),
        longest_blind=max((s.length(end) for s in no_data), default=0.0) * timedelta(seconds=1),
        fired=len(firings),
        flaps=flapped,
        pattern=pattern,
        gate_days_failed=gate_days[0],
        gate_days=gate_days[1],
        pass_share=float(np.count_nonzero(states == TRUE)) / judged,
    )
    return Line(
        subject=subject,
        limit=limit,
        polls=len(polls),
        unknown_share=facts.unknown_share,
        pass_share=facts.pass_share,
        firings=tuple(firings),
        firing_seconds=sum(s.length(end) for s in firings),
        no_data=no_data,
        no_data_alerts=no_data_alerts,
        flaps=flapped,
        heat=tuple(heat(firing_mask, cells, interval_us)),
        values=distribution(history.values[inside]),
        gate_days=gate_days,
        pattern=pattern,
        suggestion=suggestion,
        verdict=judge(facts),
    )


def _firings(
    subject: Subject,
    metric: Metric,
    history: History,
    polls: Ints,
    states: Any,
    limit: float | None,
    weeks: float,
    end: datetime,
    policy: TriggerPolicy,
    interval_us: int,
) -> tuple[Any, Any, int, Any]:
    """When the condition would have fired: a trigger through the watcher's own alert rules (and the
    threshold that would have fired at most once a week), anything else wherever it was false."""
    if not subject.alerting:
        firing_mask = states == 0
        return tuple(stretches(firing_mask, polls, interval_us)), firing_mask, 0, None
    assert subject.trigger is not None
    alerts = replay(subject.trigger, states, polls, limit, policy)
    suggestion = suggest(
        subject.condition,
        history,
        metric.baseline,
        polls,
        metric.window_aggregate,
        weeks,
        policy.cool_down,
        lambda c: _count(subject.trigger, c, history, metric, polls, policy),  # type: ignore[arg-type]
    )
    return alerts.firings, _covered(polls, alerts.firings, end), len(alerts.no_data), suggestion


def _count(
    trigger: Trigger, condition: Condition, history: History, metric: Metric, polls: Ints, policy: TriggerPolicy
) -> int:
    """How many alerts ``condition`` would have raised in place of ``trigger``'s own (suggestions)."""
    states = verdicts(condition, history, metric.baseline, polls, metric.window_aggregate)
    alerts = replay(trigger.model_copy(update={"condition": condition}), states, polls, None, policy)
    return len(alerts.firings)


def _covered(polls: Ints, spans: tuple[Span, ...], end: datetime) -> np.ndarray:
    """Polls that fell inside an alert's life (for the heat map)."""
    mask = np.zeros(len(polls), dtype=bool)
    for span in spans:
        lo = np.searchsorted(polls, micros(span.opened_at), side="left")
        hi = np.searchsorted(polls, micros(span.resolved_at or end), side="left" if span.resolved_at else "right")
        mask[lo:hi] = True
    return mask


def _gate_days(subject: Subject, states: States, polls: Ints, zone: ZoneInfo, runbook: Runbook) -> tuple[int, int]:
    """(failed, judged) working days at the gate's own clock time; no data there counts as failed."""
    weekdays = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    working = {weekdays.index(d) for d in runbook.calendar.weekdays}
    failed = judged = 0
    if not len(polls):
        return 0, 0
    first = datetime.fromtimestamp(int(polls[0]) / 1e6, zone).date()
    last = datetime.fromtimestamp(int(polls[-1]) / 1e6, zone).date()
    day = first
    while day <= last:
        if day.weekday() in working:
            for at in subject.gate_times:
                moment_us = micros(datetime.combine(day, at, zone))
                i = int(np.searchsorted(polls, moment_us, side="right")) - 1
                if i < 0 or polls[i] != moment_us:
                    continue
                judged += 1
                failed += int(states[i] != TRUE)
        day += timedelta(days=1)
    return failed, judged
