"""Synthetic metrics for the demo and the tests: the seed's baselines, a daily rhythm, small noise.

Deterministic: a value depends only on (seed, metric, environment, timestamp, world state), so
reading the same minute twice gives the same number. The numbers react to what the runbook
changes in the simulated world (min instances, cache settings, indexes, SQL tier), and to faults.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.engine.ports import Point, Series
from bot.runbook.models import Environment, Metric
from bot.sim.faults import FaultPlan


@dataclass(frozen=True)
class Shape:
    """A metric's resting value, noise amplitude (same unit) and valid range."""

    baseline: float
    noise: float
    low: float = 0.0
    high: float = math.inf
    load_sensitivity: float = 0.0  # share of the daily load swing the metric follows


# The seed's "current" figures (week17 guide), used when the catalogue gives no baseline.
SHAPES: dict[str, Shape] = {
    "error_rate_pct": Shape(0.3, 0.05, 0.0, 100.0, 0.5),
    "availability_pct": Shape(99.97, 0.01, 0.0, 100.0),
    "p95_latency_ms": Shape(36.4, 0.8, 1.0, math.inf, 0.4),
    "response_time_ms": Shape(18.0, 0.5, 1.0, math.inf, 0.4),
    "cache_hit_rate_pct": Shape(82.3, 0.3, 0.0, 100.0),
    "l1_hit_rate_pct": Shape(64.2, 0.3, 0.0, 100.0),
    "l2_hit_rate_pct": Shape(89.3, 0.3, 0.0, 100.0),
    "db_query_ms": Shape(18.3, 0.4, 0.5, math.inf, 0.3),
    "db_query_p95_ms": Shape(24.0, 0.5, 0.5, math.inf, 0.3),
    "db_replication_lag_ms": Shape(40.0, 6.0, 0.0, math.inf, 0.5),
    "db_cpu_pct": Shape(40.0, 1.5, 0.0, 100.0, 1.0),
    "db_pool_utilization_pct": Shape(55.0, 2.0, 0.0, 100.0, 1.0),
    "db_pool_errors": Shape(0.0, 0.0, 0.0),
    "cpu_utilization_pct": Shape(35.0, 1.5, 0.0, 100.0, 1.0),
    "l1_memory_mb": Shape(2.5, 0.02, 0.0),
    "cache_eviction_rate": Shape(12.0, 0.8, 0.0, math.inf, 0.5),
    "recommend_hit_rate_pct": Shape(15.0, 0.5, 0.0, 100.0),
    "bulk_hit_rate_pct": Shape(22.0, 0.5, 0.0, 100.0),
    "prefetch_success_pct": Shape(60.0, 1.0, 0.0, 100.0),
    "incidents": Shape(0.0, 0.0, 0.0),
}

BASE_CACHE_ITEMS = 1000
BUSY_ZONE = ZoneInfo("America/Chicago")  # the US business day drives the traffic


class SimWorldState(Protocol):
    """What the simulated cloud tells the metrics about itself (the in-memory world implements it)."""

    def min_instances(self, environment: str) -> Mapping[str, int]:
        """Region -> min instances of the main service."""
        ...

    def env_vars(self, environment: str) -> Mapping[str, Mapping[str, str]]:
        """Region -> environment variables of the main service."""
        ...

    def sql_tier(self, environment: str) -> str | None:
        """Tier of the primary the application uses."""
        ...

    def sql_instance(self, environment: str, name: str) -> tuple[str, str] | None:
        """(tier, role) of a named Cloud SQL instance (role: serving, replica, standby); None if absent."""
        ...

    def has_indexes(self, environment: str) -> bool: ...


@dataclass
class StaticWorld:
    """A world that only changes when told to: the seed's starting state by default."""

    mins: dict[str, int] = field(default_factory=lambda: {"us-central1": 3, "europe-west1": 2, "asia-southeast1": 1})
    env: dict[str, dict[str, str]] = field(default_factory=dict)
    tier: str | None = "db-custom-16-32768"
    indexes: bool = False

    def min_instances(self, environment: str) -> Mapping[str, int]:
        return self.mins

    def env_vars(self, environment: str) -> Mapping[str, Mapping[str, str]]:
        return self.env

    def sql_tier(self, environment: str) -> str | None:
        return self.tier

    def sql_instance(self, environment: str, name: str) -> tuple[str, str] | None:
        return (self.tier, "serving") if self.tier else None

    def has_indexes(self, environment: str) -> bool:
        return self.indexes


class SyntheticMetrics:
    """``MetricsSource`` for the simulation: a point every ``step_seconds`` on the minute grid."""

    def __init__(
        self,
        world: SimWorldState | None = None,
        faults: FaultPlan | None = None,
        *,
        seed: int = 17,
        step_seconds: int = 60,
        reference_environment: str = "production",
    ) -> None:
        self.world: SimWorldState = world or StaticWorld()
        self.faults = faults or FaultPlan()
        self._seed = seed
        self._step = step_seconds
        # The world as it was when the simulation started: changes are measured against it.
        self._ref_mins = sum(self.world.min_instances(reference_environment).values())
        self._ref_vcpu = _vcpus(self.world.sql_tier(reference_environment))

    def note_step_done(self, step_id: str, at: datetime) -> None:
        """Hook for the simulation: faults written 'after <step>' start from here."""
        self.faults.note_step_done(step_id, at)

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        points: list[Point] = []
        instance = _instance_named(metric)
        if instance is not None and self.world.sql_instance(environment.name, instance) is None:
            return Series(metric.id, (), float(self._step))  # Monitoring has no series for a missing instance
        # The world cannot change during this synchronous loop: work out its effect once, not per point.
        shape, _, shifted = self._level(metric, environment)
        faulted = self.faults.lookup(metric.id)
        # _value's arithmetic, unrolled: the watch and the reports read some 130,000 points a week.
        keyed = _series_hash(self._seed, metric.id, environment.name)
        swing, noise, low, high = shape.load_sensitivity, shape.noise, shape.low, shape.high
        for stamp in self._stamps(start, end):
            at = datetime.fromtimestamp(stamp, UTC)
            override = faulted(at) if faulted is not None else None
            if override is not None:
                if override.value is not None:
                    points.append(Point(at, override.value))
                continue  # a no-data fault: the point is missing
            value = shifted * (1.0 + swing * (_load_at(stamp) - 1.0))
            value += noise * _drawn(keyed, stamp)  # the series' part of the key hashed once per read
            points.append(Point(at, round(min(high, max(low, value)), 3)))
        return Series(metric.id, tuple(points), float(self._step))

    def value_at(self, metric: Metric, environment: Environment, at: datetime) -> float:
        """The healthy value of ``metric`` at ``at`` (faults aside)."""
        shape, _, shifted = self._level(metric, environment)
        return self._value(metric.id, environment.name, shape, shifted, at)

    def _value(self, metric_id: str, environment: str, shape: Shape, shifted: float, at: datetime) -> float:
        value = shifted * (1.0 + shape.load_sensitivity * (_load(at) - 1.0))
        value += shape.noise * self._unit_noise(metric_id, environment, at)
        return round(min(shape.high, max(shape.low, value)), 3)

    def _level(self, metric: Metric, environment: Environment) -> tuple[Shape, float, float]:
        """The metric's shape, baseline, and baseline moved by the world's current state."""
        instance = _instance_named(metric)
        if instance is not None:
            return self._instance_cpu(metric, environment, instance)
        shape = SHAPES.get(metric.id)
        if shape is None:
            if metric.baseline is None:
                raise ValueError(
                    f"The simulator has no model for metric {metric.id} and the catalogue gives it no "
                    "baseline; add a baseline to the metric in the runbook."
                )
            shape = Shape(metric.baseline, abs(metric.baseline) * 0.02)
        base = metric.baseline if metric.baseline is not None else shape.baseline
        return shape, base, base + self._effect(metric.id, environment, base)

    def _instance_cpu(self, metric: Metric, environment: Environment, name: str) -> tuple[Shape, float, float]:
        """CPU of one named instance: the serving primary carries the load, a replica replication and a
        share of reads (about half), a standby almost nothing; a smaller tier runs hotter."""
        shape = SHAPES["db_cpu_pct"]
        base = metric.baseline if metric.baseline is not None else shape.baseline
        tier, role = self.world.sql_instance(environment.name, name) or (None, "standby")
        vcpu = _vcpus(tier)
        tier_factor = (self._ref_vcpu / vcpu) ** 0.35 if self._ref_vcpu and vcpu else 1.0
        return shape, base, base * tier_factor * _ROLE_LOAD.get(role, 0.1)

    def _effect(self, metric_id: str, environment: Environment, base: float) -> float:
        """How the world's current state moves a metric away from its baseline: only what the metric's
        rule reads is asked of the world (most metrics, the error rate among them, read nothing)."""
        rule = _EFFECTS.get(metric_id)
        return rule(_WorldNow(self, environment.name), base) if rule is not None else 0.0

    def _stamps(self, start: datetime, end: datetime) -> range:
        """The whole-step Unix times from ``start`` to ``end``, both included."""
        first = math.ceil(start.timestamp() / self._step) * self._step
        last = math.floor(end.timestamp() / self._step) * self._step
        return range(int(first), int(last) + 1, self._step)

    def _unit_noise(self, metric_id: str, environment: str, at: datetime) -> float:
        return _noise(self._seed, metric_id, environment, int(at.timestamp()))


class _WorldNow:
    """The world's state as the effects read it, each part asked of the world once, when first read."""

    def __init__(self, metrics: SyntheticMetrics, environment: str) -> None:
        self._metrics, self._world, self._env = metrics, metrics.world, environment

    @functools.cached_property
    def missing(self) -> int:
        """Min instances below the simulation's start, summed over regions."""
        return max(0, self._metrics._ref_mins - sum(self._world.min_instances(self._env).values()))

    @functools.cached_property
    def _env_vars(self) -> Mapping[str, Mapping[str, str]]:
        return self._world.env_vars(self._env)

    @functools.cached_property
    def cache(self) -> tuple[float, bool]:
        return _cache_settings(self._env_vars)

    @functools.cached_property
    def l1_gain(self) -> float:
        items, warmup = self.cache
        return min(5.8, 5.8 * (items - BASE_CACHE_ITEMS) / 500) + (2.0 if warmup else 0.0)

    @functools.cached_property
    def tier_factor(self) -> float:
        vcpu = _vcpus(self._world.sql_tier(self._env))
        ref = self._metrics._ref_vcpu
        return (ref / vcpu) ** 0.35 if ref and vcpu else 1.0

    @functools.cached_property
    def indexed(self) -> bool:
        return self._world.has_indexes(self._env)

    @functools.cached_property
    def flags(self) -> set[str]:
        return _flags(self._env_vars)


# How the world moves each metric (world now, baseline) -> shift; a metric not named here does not move.
_EFFECTS: dict[str, Callable[[_WorldNow, float], float]] = {
    # the Phase 2 features, measured on the revisions that carry them (days 6 and 8)
    "prefetch_success_pct": lambda w, base: 26.0 if "ENABLE_MULTI_TIER_WARMING" in w.flags else 0.0,
    "recommend_hit_rate_pct": lambda w, base: 32.0 if "RECOMMEND_CACHE_TTL" in w.flags else 0.0,
    "bulk_hit_rate_pct": lambda w, base: 31.0 if "BULK_PROCESS_L1_CACHE" in w.flags else 0.0,
    # fewer warm instances cost a little; a better cache and indexed queries win it back
    "p95_latency_ms": lambda w, base: 1.2 * w.missing - 0.4 * w.l1_gain - (1.0 if w.indexed else 0.0),
    "response_time_ms": lambda w, base: 0.5 * w.missing,
    "cpu_utilization_pct": lambda w, base: 5.0 * w.missing,
    "l1_hit_rate_pct": lambda w, base: w.l1_gain,
    "cache_hit_rate_pct": lambda w, base: 0.5 * w.l1_gain,
    # 1500 items: +0.8 MB, under the +1 MB limit
    "l1_memory_mb": lambda w, base: 0.0016 * (w.cache[0] - BASE_CACHE_ITEMS),
    "cache_eviction_rate": lambda w, base: base * (BASE_CACHE_ITEMS / w.cache[0] - 1.0),
    # 18.3 -> ~13.3 (~14 at the noon peak): the seed expects < 15
    "db_query_ms": lambda w, base: -5.0 if w.indexed else 0.0,
    "db_query_p95_ms": lambda w, base: -4.0 if w.indexed else 0.0,
    "db_cpu_pct": lambda w, base: base * (w.tier_factor - 1.0),
}


# Not cached: a cache of the watch's overlapping windows held 15 MB at the simulated week's peak, over
# its 200 MB (bench/memory.py), for about 40 µs a read.
def _noise(seed: int, metric_id: str, environment: str, stamp: int) -> float:
    """The point's noise in [-1, 1): the hash of "SEED|METRIC|ENV|STAMP" is itself the uniform draw
    (no random.Random per point), deterministic and ~10x cheaper."""
    return _drawn(_series_hash(seed, metric_id, environment), stamp)


def _series_hash(seed: int, metric_id: str, environment: str) -> Any:
    """The noise hash fed its key's fixed part ("SEED|METRIC|ENV|"), for ``_drawn`` to finish: a read
    hashes it once for all its points (a hash is fed in pieces or whole alike)."""
    return hashlib.blake2b(f"{seed}|{metric_id}|{environment}|".encode(), digest_size=8)


def _drawn(series: Any, stamp: int) -> float:
    """The noise at ``stamp`` of the series whose hash ``series`` is (left as it was)."""
    hashed = series.copy()
    hashed.update(str(stamp).encode())
    return 2.0 * (int.from_bytes(hashed.digest(), "big") / 2**64) - 1.0


def _load(at: datetime) -> float:
    """Traffic relative to the daily mean: ~1.15 mid-afternoon on US weekdays, ~0.85 at night."""
    return _load_at(at.timestamp())


@functools.lru_cache(maxsize=4096)  # the watch and the reports read the same minutes again and again
def _load_at(timestamp: float) -> float:
    local = datetime.fromtimestamp(timestamp, BUSY_ZONE)
    hour = local.hour + local.minute / 60
    busy = math.sin(math.pi * (hour - 7) / 12) if local.weekday() < 5 and 7 < hour < 19 else 0.0
    return 0.85 + 0.3 * busy


def _cache_settings(env_by_region: Mapping[str, Mapping[str, str]]) -> tuple[float, bool]:
    """Mean CACHE_MAX_ITEMS over regions (1000 when unset) and whether warm-up is on anywhere."""
    sizes: list[float] = []
    warmup = False
    for env in env_by_region.values():
        raw = env.get("CACHE_MAX_ITEMS", "")
        sizes.append(float(raw) if raw.isdigit() and int(raw) > 0 else BASE_CACHE_ITEMS)
        warmup = warmup or env.get("ENABLE_CACHE_WARMUP", "").lower() in ("1", "true", "yes")
    return (sum(sizes) / len(sizes) if sizes else BASE_CACHE_ITEMS), warmup


def _flags(env_by_region: Mapping[str, Mapping[str, str]]) -> set[str]:
    """Environment variables that are set (and not "false") on the latest revision of any region."""
    return {
        name
        for env in env_by_region.values()
        for name, value in env.items()
        if value.strip().lower() not in ("", "0", "false", "no")
    }


# Share of the application's database load an instance carries, by its role.
_ROLE_LOAD = {"serving": 1.0, "replica": 0.5, "standby": 0.1}
_DATABASE_ID = re.compile(r'resource\.labels\.database_id\s*=\s*"[^":]+:([^"]+)"')


def _instance_named(metric: Metric) -> str | None:
    """The one Cloud SQL instance whose CPU the metric's filter names (database_id="PROJECT:NAME")."""
    query = metric.query
    if query is None or "cpu/utilization" not in query.filter:
        return None
    match = _DATABASE_ID.search(query.filter)
    return match.group(1) if match else None


def _vcpus(tier: str | None) -> int | None:
    match = re.match(r"db-custom-(\d+)", tier or "")
    return int(match.group(1)) if match else None
