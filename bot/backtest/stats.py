"""The numbers of a backtest line: stretches, flaps, a weekday-by-hour heat map, value percentiles,
and the weekly pattern behind repeated firings ("every Monday 09:00-09:20")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

import numpy as np
import numpy.typing as npt

from bot.backtest.lifecycle import Span
from bot.backtest.timeline import Floats, Ints, moment

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CELLS = 7 * 24


@dataclass(frozen=True)
class Distribution:
    p50: float
    p95: float
    p99: float
    max: float
    min: float


def stretches(mask: npt.NDArray[np.bool_], polls: Ints, interval_us: int) -> list[Span]:
    """Maximal runs of polls where ``mask`` holds, each as [first poll, one interval after the last)."""
    if not mask.any():
        return []
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return [Span(moment(int(polls[a])), moment(int(polls[b]) + interval_us)) for a, b in zip(starts, ends, strict=True)]


def flaps(spans: Sequence[Span], within: timedelta) -> int:
    """Alerts that fired and resolved within ``within``: the condition was flapping."""
    return sum(1 for s in spans if s.resolved_at is not None and s.resolved_at - s.opened_at <= within)


def local_cells(polls: Ints, zone: tzinfo) -> Ints:
    """Each poll's weekday-and-hour cell (Monday 00:00 is 0) in the team's time zone."""
    if not len(polls):
        return np.zeros(0, dtype=np.int64)
    # Offsets change only at DST switches: convert once per hour, not once per poll.
    hour_us = 3_600_000_000
    hours = np.unique(polls // hour_us)
    offsets = {}
    for h in hours.tolist():
        local = moment(int(h) * hour_us).astimezone(zone)
        offsets[h] = local.weekday() * 24 + local.hour
    lookup = np.fromiter((offsets[h] for h in hours.tolist()), dtype=np.int64, count=len(hours))
    return lookup[np.searchsorted(hours, polls // hour_us)]


def heat(mask: npt.NDArray[np.bool_], cells: Ints, interval_us: int) -> list[float]:
    """Minutes the mask held in each weekday-and-hour cell."""
    counts = np.bincount(cells[mask], minlength=CELLS) if mask.any() else np.zeros(CELLS)
    return [float(c) * interval_us / 60e6 for c in counts]


def distribution(values: Floats) -> Distribution | None:
    if not len(values):
        return None
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return Distribution(float(p50), float(p95), float(p99), float(values.max()), float(values.min()))


def weekly_pattern(spans: Sequence[Span], zone: tzinfo, end: datetime) -> str | None:
    """ "every Monday 09:00-09:20" when at least two firings start on the same weekday and hour in
    different weeks; None when the firings have no such rhythm."""
    groups: dict[tuple[int, int], list[Span]] = defaultdict(list)
    for span in spans:
        local = span.opened_at.astimezone(zone)
        groups[(local.weekday(), local.hour)].append(span)
    best = max(groups.items(), key=lambda item: len(item[1]), default=None)
    if best is None:
        return None
    (weekday, _), group = best
    weeks = {s.opened_at.astimezone(zone).isocalendar()[:2] for s in group}
    if len(weeks) < 2:
        return None
    first = min(s.opened_at.astimezone(zone).time() for s in group)
    last = max((s.resolved_at or end).astimezone(zone).time() for s in group)
    return f"every {WEEKDAY_NAMES[weekday]} {first:%H:%M}-{last:%H:%M}"
