"""Reading a metric's past: one read per metric per chunk over the whole period, never one per point.

A source that can align server-side (``HistoryReader``: Cloud Monitoring) is asked for points at the
watcher's own poll interval, so every poll has exactly the points the watcher would have read; one
that hands its points over as arrays (``ArrayReader``: the simulator's history) is read without a
Point per minute; any other ``MetricsSource`` is read as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import numpy as np

from bot.backtest.subjects import Subject
from bot.backtest.timeline import US, Floats, History, Ints
from bot.engine.evaluator import lookback
from bot.engine.ports import MetricsSource, Series
from bot.runbook.models import Environment, Metric, Runbook

CHUNK = timedelta(days=7)  # a week of minutes is ~10,000 points: a few pages, one call


@runtime_checkable
class HistoryReader(Protocol):
    """A source that reads a past period aligned server-side at ``alignment``."""

    async def read_history(
        self, metric: Metric, environment: Environment, start: datetime, end: datetime, alignment: timedelta
    ) -> Series: ...


@runtime_checkable
class ArrayReader(Protocol):
    """A source that reads a period as arrays: times in microseconds since the epoch, values, step in seconds."""

    async def read_arrays(
        self, metric: Metric, environment: Environment, start: datetime, end: datetime
    ) -> tuple[Ints, Floats, float]: ...


@dataclass(frozen=True)
class Fetched:
    histories: dict[str, History]
    reads: int  # one per metric per chunk
    points: int
    start: datetime  # the first point read (the period's start less the longest window)


async def fetch(
    runbook: Runbook,
    source: MetricsSource,
    subjects: Iterable[Subject],
    environment: Environment,
    start: datetime,
    end: datetime,
    chunk: timedelta = CHUNK,
) -> Fetched:
    """Every metric the subjects use, over [start less the longest window they need, end]."""
    listed = list(subjects)
    reach = max((lookback(s.condition) for s in listed), default=timedelta(0))
    first = start - reach
    interval = runbook.schedule.watch_interval
    histories: dict[str, History] = {}
    reads = 0
    for metric_id in dict.fromkeys(s.condition.metric for s in listed):
        metric = runbook.metric(metric_id)
        assert metric is not None
        parts: list[History] = []
        at = first
        while at < end:  # chunks share their boundaries; a point on one is kept once (_joined)
            until = min(at + chunk, end)
            parts.append(await _read(source, metric, environment, at, until, interval))
            reads += 1
            at = until
        histories[metric_id] = _joined(parts)
    points = sum(len(h.times) for h in histories.values())
    return Fetched(histories, reads, points, first)


async def _read(
    source: MetricsSource, metric: Metric, environment: Environment, at: datetime, until: datetime, interval: timedelta
) -> History:
    if isinstance(source, HistoryReader):
        return History.of(await source.read_history(metric, environment, at, until, interval))
    if isinstance(source, ArrayReader):
        times, values, step = await source.read_arrays(metric, environment, at, until)
        finite = np.isfinite(values)
        return History(times[finite], values[finite], int(timedelta(seconds=step) // US))
    return History.of(await source.read(metric, environment, at, until))


def _joined(pieces: list[History]) -> History:
    """The chunks as one history, a point on a chunk boundary kept once."""
    step = max((p.step_us for p in pieces), default=60_000_000)
    times = np.concatenate([p.times for p in pieces]) if pieces else np.zeros(0, dtype=np.int64)
    values = np.concatenate([p.values for p in pieces]) if pieces else np.zeros(0)
    times, index = np.unique(times, return_index=True)
    return History(times, values[index], step)
