"""The simulator's past: windows before the simulation started are answered from history, not from
the world as it is now.

``SyntheticMetrics`` computes a point from the world's *current* state, so a read of last week after
day 7's downsizing would show last week on the new tier. ``HistoryMetrics`` splits a read at the
moment the simulation started: before it, the world as it was then (``FrozenWorld``) plus the
history's own faults (``PastFaults``: the demo's batch job, blind day, incident and flapping cache,
so a backtest shows red lines); from it on, the live metrics. The history's faults stay out of the
last two days, which the live run's gates and triggers read back into.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.engine.ports import MetricsSource, Series
from bot.runbook.models import Environment, Metric, Runbook
from bot.sim.faults import Fault, FaultPlan, Override
from bot.sim.metrics import SimWorldState, SyntheticMetrics, _instance_named

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


class HistoryMetrics:
    """``MetricsSource``: before ``since`` from the past metrics, from ``since`` on from the live ones."""

    def __init__(self, live: MetricsSource, past: MetricsSource, since: datetime) -> None:
        self.live = live
        self.past = past
        self.since = since

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
    past = SyntheticMetrics(
        FrozenWorld.capture(world, runbook),
        PastFaults(demo_faults(since, zone), asked),
        seed=seed,
        reference_environment=production,
    )
    return HistoryMetrics(live, past, since)
