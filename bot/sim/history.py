"""The simulator's past: windows before the simulation started are answered from history, not from
the world as it is now.

``SyntheticMetrics`` computes a point from the world's *current* state, so a read of last week after
day 7's downsizing would show last week on the new tier. ``HistoryMetrics`` splits a read at the
moment the simulation started: before it, the world as it was then (``FrozenWorld``) plus the
history's own faults (``PastFaults``: the demo's batch job, blind day, incident and flapping cache,
so a backtest shows red lines); from it on, the live metrics. The history's faults stay out of the
last two days, which the live run's gates and triggers read back into.

The past is computed with numpy (``PastMetrics``), a whole read at once: a backtest reads weeks of
minutes of every metric, which point by point cost seconds of a simulated week.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, TypeAlias
from zoneinfo import ZoneInfo

from bot.engine.ports import MetricsSource, Point, Series
from bot.runbook.models import Environment, Metric, Runbook
from bot.sim.faults import Fault, FaultPlan, Override
from bot.sim.metrics import BUSY_ZONE, SimWorldState, SyntheticMetrics, _instance_named

if TYPE_CHECKING:  # numpy is imported by the first read of the past, not by every bot with the sim
    import numpy as np
    import numpy.typing as npt

    Seconds: TypeAlias = npt.NDArray[np.int64]
    Floats: TypeAlias = npt.NDArray[np.float64]
    Arrays: TypeAlias = tuple[npt.NDArray[np.int64], Floats, float]  # times in µs, values, step in seconds

US_PER_S = 1_000_000

QUIET = timedelta(days=2)  # no history fault this close to the start: the live run reads back into it
DEMO_WEEKS = 8


@dataclass(frozen=True)
class PastFault:
    metric: str
    value: float | None  # None: no data
    start: datetime
    end: datetime
    text: str


class PastFaults(FaultPlan):
    """Faults at absolute past times (the FaultPlan interface the synthetic metrics read); the
    faults a person asked for (``--fault``) win over the demo's own history where both apply, so a
    bot started after a faulty run still draws that run's faults."""

    def __init__(self, faults: Iterable[PastFault], asked: FaultPlan | None = None) -> None:
        super().__init__()
        self.past = list(faults)
        self.asked = asked

    def override(self, metric_id: str, at: datetime) -> Override | None:
        if self.asked is not None and (given := self.asked.override(metric_id, at)) is not None:
            return given
        found: Override | None = None
        for fault in self.past:
            if fault.metric in ("*", metric_id) and fault.start <= at < fault.end:
                found = Override(
                    fault.value, Fault(fault.metric, fault.value, fault.end - fault.start, text=fault.text)
                )
        return found


def demo_faults(since: datetime, zone: ZoneInfo, weeks: int = DEMO_WEEKS) -> list[PastFault]:
    """The demo's history: what a team would find in its last weeks of traffic."""
    monday = since.astimezone(zone).date() - timedelta(days=since.astimezone(zone).weekday())
    faults: list[PastFault] = []

    def add(metric: str, value: float | None, day: date, at: time, length: timedelta, text: str) -> None:
        start = datetime.combine(day, at, zone)
        if start + length <= since - QUIET:
            faults.append(PastFault(metric, value, start, start + length, text))

    for week in range(1, weeks + 1):  # a Monday-morning batch job pushes P95 over 100 ms for 20 minutes
        add("p95_latency_ms", 140.0, monday - timedelta(weeks=week), time(9, 0), timedelta(minutes=20), "batch job")
    wednesday = monday - timedelta(weeks=2) + timedelta(days=2)
    add("db_replication_lag_ms", None, wednesday, time(0, 0), timedelta(days=1), "lag exporter down for a day")
    thursday = monday - timedelta(weeks=3) + timedelta(days=3)
    add("error_rate_pct", 2.5, thursday, time(14, 10), timedelta(minutes=12), "a real incident")
    tuesday = monday - timedelta(weeks=1) + timedelta(days=1)
    for at in (time(15, 0), time(15, 25)):  # the cache dips twice within the hour: a flapping trigger
        add("cache_hit_rate_pct", 74.0, tuesday, at, timedelta(minutes=6), "cache node restarts")
    return faults


@dataclass
class FrozenWorld:
    """A SimWorldState as it was at one moment (every answer captured then)."""

    mins: dict[str, dict[str, int]] = field(default_factory=dict)
    env: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    tiers: dict[str, str | None] = field(default_factory=dict)
    instances: dict[tuple[str, str], tuple[str, str] | None] = field(default_factory=dict)
    indexes: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def capture(cls, world: SimWorldState, runbook: Runbook) -> FrozenWorld:
        names = {i.name for i in runbook.sql_instances} | {n for m in runbook.metrics if (n := _instance_named(m))}
        frozen = cls()
        for env in runbook.environments:
            frozen.mins[env.name] = dict(world.min_instances(env.name))
            frozen.env[env.name] = {r: dict(v) for r, v in world.env_vars(env.name).items()}
            frozen.tiers[env.name] = world.sql_tier(env.name)
            frozen.indexes[env.name] = world.has_indexes(env.name)
            for name in names:
                frozen.instances[(env.name, name)] = world.sql_instance(env.name, name)
        return frozen

    def min_instances(self, environment: str) -> Mapping[str, int]:
        return self.mins.get(environment, {})

    def env_vars(self, environment: str) -> Mapping[str, Mapping[str, str]]:
        return self.env.get(environment, {})

    def sql_tier(self, environment: str) -> str | None:
        return self.tiers.get(environment)

    def sql_instance(self, environment: str, name: str) -> tuple[str, str] | None:
        return self.instances.get((environment, name))

    def has_indexes(self, environment: str) -> bool:
        return self.indexes.get(environment, False)


class PastMetrics(SyntheticMetrics):
    """The synthetic metrics of the past, a read computed at once with numpy: the same daily rhythm,
    world effects and faults as ``SyntheticMetrics``, its own noise draw (a counter hash, as
    deterministic), so every read of a past minute, point or array, gives the same number."""

    def __init__(self, world: SimWorldState, faults: PastFaults, *, seed: int, reference_environment: str) -> None:
        super().__init__(world, faults, seed=seed, reference_environment=reference_environment)
        self.past_faults = faults

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        times, values, step = self.arrays(metric, environment, start, end)
        points = tuple(
            Point(datetime.fromtimestamp(int(t) // US_PER_S, UTC), float(v)) for t, v in zip(times, values, strict=True)
        )
        return Series(metric.id, points, step)

    def arrays(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Arrays:
        """Every point of [start, end] on the step grid, a missing one (no data) left out."""
        import numpy as np

        step = self._step
        instance = _instance_named(metric)
        if instance is not None and self.world.sql_instance(environment.name, instance) is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0), float(step)
        first, last = math.ceil(start.timestamp() / step) * step, math.floor(end.timestamp() / step) * step
        seconds = np.arange(first, last + 1, step, dtype=np.int64)
        shape, _, shifted = self._level(metric, environment)
        level = shifted * (1.0 + shape.load_sensitivity * (_loads(seconds) - 1.0))
        level += shape.noise * _noise(self._seed, metric.id, environment.name, seconds)
        values = self._faulted(
            metric.id, seconds, np.round(np.clip(level, shape.low, shape.high), 3).astype(np.float64)
        )
        kept = ~np.isnan(values)
        return seconds[kept] * US_PER_S, values[kept], float(step)

    def _faulted(self, metric_id: str, seconds: Seconds, values: Floats) -> Floats:
        """The history's faults, then the asked ones (they win), each later one over earlier: NaN is no data."""
        import numpy as np

        spans: list[tuple[datetime, datetime, float | None]] = [
            (f.start, f.end, f.value) for f in self.past_faults.past if f.metric in ("*", metric_id)
        ]
        asked = self.past_faults.asked
        for fault in asked.faults if asked is not None else ():
            window = asked.window(fault) if asked is not None and fault.applies_to(metric_id) else None
            if window is not None:
                spans.append((window[0], window[1], fault.value))
        for start, end, value in spans:
            inside = (seconds >= start.timestamp()) & (seconds < end.timestamp())
            values[inside] = np.nan if value is None else value
        return values


def _loads(seconds: Seconds) -> Floats:
    """``bot.sim.metrics._load`` for every point: the US business day's swing, ~1.15 mid-afternoon."""
    import numpy as np

    hours = seconds // 3600
    unique, index = np.unique(hours, return_inverse=True)
    offsets = np.array([_offset(int(h) * 3600) for h in unique], dtype=np.int64)  # DST moves on the hour
    local = seconds + offsets[index]
    weekday = (local // 86400 + 3) % 7  # 1970-01-01 was a Thursday (Monday is 0)
    hour = (local % 86400 // 60) / 60
    busy = np.where((weekday < 5) & (hour > 7) & (hour < 19), np.sin(math.pi * (hour - 7) / 12), 0.0)
    return 0.85 + 0.3 * busy


def _offset(second: int) -> int:
    offset = datetime.fromtimestamp(second, UTC).astimezone(BUSY_ZONE).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _noise(seed: int, metric_id: str, environment: str, seconds: Seconds) -> Floats:
    """Uniform in [-1, 1) per (metric, environment, second): splitmix64 of the series' key and the time."""
    import numpy as np

    digest = hashlib.blake2b(f"{seed}|{metric_id}|{environment}".encode(), digest_size=8).digest()
    with np.errstate(over="ignore"):
        z = seconds.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(int.from_bytes(digest, "big"))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**52 - 1.0


class HistoryMetrics:
    """``MetricsSource``: before ``since`` from the past metrics, from ``since`` on from the live ones."""

    def __init__(self, live: MetricsSource, past: PastMetrics, since: datetime) -> None:
        self.live = live
        self.past = past
        self.since = since

    @property
    def known_faults(self) -> list[PastFault]:
        """What the history holds on purpose (the demo team knows its own traffic: the batch job...)."""
        return list(self.past.past_faults.past)

    async def read_arrays(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Arrays:
        """``read`` as arrays (``bot.backtest.history.ArrayReader``): the past computed at once."""
        import numpy as np

        if start >= self.since:
            return _as_arrays(await self.live.read(metric, environment, start, end))
        times, values, step = self.past.arrays(
            metric, environment, start, min(end, self.since - timedelta(microseconds=1))
        )
        if end < self.since:
            return times, values, step
        later, more, step = _as_arrays(await self.live.read(metric, environment, self.since, end))
        return np.concatenate([times, later]), np.concatenate([values, more]), step

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        if start >= self.since:
            return await self.live.read(metric, environment, start, end)
        if end < self.since:
            return await self.past.read(metric, environment, start, end)
        before = await self.past.read(metric, environment, start, self.since - timedelta(microseconds=1))
        after = await self.live.read(metric, environment, self.since, end)
        return Series(metric.id, before.points + after.points, after.step_seconds)


def sim_history(
    live: MetricsSource,
    world: SimWorldState,
    runbook: Runbook,
    since: datetime,
    *,
    seed: int = 17,
    asked: FaultPlan | None = None,
) -> HistoryMetrics:
    """The sim's metrics with a past: the world frozen at ``since`` and the demo's history faults."""
    zone = ZoneInfo(runbook.calendar.timezone)
    production = next((e.name for e in runbook.environments if e.production), "production")
    past = PastMetrics(
        FrozenWorld.capture(world, runbook),
        PastFaults(demo_faults(since, zone), asked),
        seed=seed,
        reference_environment=production,
    )
    return HistoryMetrics(live, past, since)


def _as_arrays(series: Series) -> Arrays:
    import numpy as np

    times = np.fromiter((round(p.at.timestamp() * US_PER_S) for p in series.points), dtype=np.int64)
    values = np.fromiter((p.value for p in series.points), dtype=np.float64)
    return times, values, series.step_seconds
