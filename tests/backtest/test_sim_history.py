"""The sim answers past windows from its history: the world as it was when the simulation started,
with the history's own faults, never the world as it is now."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.sim.history import QUIET, demo_faults, sim_history
from bot.sim.metrics import StaticWorld, SyntheticMetrics
from tests.triggers.builders import T0, seed_runbook

BOOK = seed_runbook()
PRODUCTION = BOOK.environments[0]


async def test_a_past_window_keeps_the_world_of_its_time_and_a_window_across_the_start_joins_both() -> None:
    world = StaticWorld()
    live = SyntheticMetrics(world)
    metrics = sim_history(live, world, BOOK, since=T0)
    p95 = BOOK.metric("p95_latency_ms")
    assert p95 is not None
    before = await metrics.read(p95, PRODUCTION, T0 - timedelta(hours=3), T0 - timedelta(hours=2))

    world.mins = {"us-central1": 1, "europe-west1": 1, "asia-southeast1": 1}  # the rollout scales down
    again = await metrics.read(p95, PRODUCTION, T0 - timedelta(hours=3), T0 - timedelta(hours=2))
    now_world = await live.read(p95, PRODUCTION, T0 - timedelta(hours=3), T0 - timedelta(hours=2))
    assert again.points == before.points  # last hour's history does not move with today's world
    assert again.points != now_world.points

    across = await metrics.read(p95, PRODUCTION, T0 - timedelta(minutes=5), T0 + timedelta(minutes=5))
    assert [p.at for p in across.points] == [T0 + timedelta(minutes=m) for m in range(-5, 6)]
    assert across.points[5:] == (await live.read(p95, PRODUCTION, T0, T0 + timedelta(minutes=5))).points


async def test_the_demo_history_has_its_faults_but_none_in_the_last_two_days() -> None:
    zone = ZoneInfo("America/Chicago")
    faults = demo_faults(T0, zone)
    assert {f.metric for f in faults} == {
        "p95_latency_ms",
        "db_replication_lag_ms",
        "error_rate_pct",
        "cache_hit_rate_pct",
    }
    assert all(f.end <= T0 - QUIET for f in faults)
    monday = next(f for f in faults if f.metric == "p95_latency_ms")
    world = StaticWorld()
    metrics = sim_history(SyntheticMetrics(world), world, BOOK, since=T0)
    p95 = BOOK.metric("p95_latency_ms")
    assert p95 is not None
    spike = await metrics.read(p95, PRODUCTION, monday.start, monday.end - timedelta(minutes=1))
    assert monday.start.astimezone(zone).strftime("%a %H:%M") == "Mon 09:00"
    assert {p.value for p in spike.points} == {140.0} and len(spike.points) == 20


async def test_the_past_read_as_arrays_is_the_past_read_as_points_faults_and_gaps_included() -> None:
    """The backtest reads the history as arrays, a gate check as points: the same minutes, the same
    numbers, the blind day missing from both, and the live minutes after the start joined on."""
    world = StaticWorld()
    metrics = sim_history(SyntheticMetrics(world), world, BOOK, since=T0)
    for metric_id in ("p95_latency_ms", "db_replication_lag_ms"):
        metric = BOOK.metric(metric_id)
        assert metric is not None
        start, end = T0 - timedelta(weeks=3), T0 + timedelta(minutes=30)
        points = (await metrics.read(metric, PRODUCTION, start, end)).points
        times, values, step = await metrics.read_arrays(metric, PRODUCTION, start, end)
        assert step == 60.0
        assert [p.at.timestamp() * 1_000_000 for p in points] == times.tolist()
        assert [p.value for p in points] == values.tolist()
    blind = next(f for f in metrics.known_faults if f.value is None)
    lag = BOOK.metric("db_replication_lag_ms")
    assert lag is not None
    _, inside, _ = await metrics.read_arrays(lag, PRODUCTION, blind.start, blind.end - timedelta(minutes=1))
    assert len(inside) == 0


def test_the_past_follows_the_live_metrics_daily_rhythm_minute_for_minute_across_a_dst_change() -> None:
    from datetime import UTC, datetime

    import numpy as np

    from bot.sim.history import _loads, _noise
    from bot.sim.metrics import _load

    start = int(datetime(2026, 10, 30, tzinfo=UTC).timestamp())  # Fri to Tue, over Sun 1 Nov (CDT -> CST)
    seconds = np.arange(start, start + 4 * 86400, 60, dtype=np.int64)
    expected = [_load(datetime.fromtimestamp(int(s), UTC)) for s in seconds]
    assert np.allclose(_loads(seconds), expected, rtol=0, atol=1e-12)
    draws = _noise(17, "p95_latency_ms", "production", seconds)
    assert draws.min() >= -1 and draws.max() < 1 and abs(draws.mean()) < 0.05
    assert np.array_equal(draws, _noise(17, "p95_latency_ms", "production", seconds))  # deterministic
    assert not np.array_equal(draws, _noise(17, "p95_latency_ms", "staging", seconds))  # its own per series


async def test_a_backtest_fetch_of_the_sim_history_as_arrays_equals_the_fetch_point_by_point() -> None:
    from bot.backtest.history import fetch
    from bot.backtest.subjects import subjects
    from bot.engine.ports import Series
    from bot.runbook.models import Environment, Metric

    world = StaticWorld()
    metrics = sim_history(SyntheticMetrics(world), world, BOOK, since=T0)

    class PointsOnly:
        async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
            return await metrics.read(metric, environment, start, end)

    chosen, _ = subjects(BOOK, PRODUCTION.name)
    start, end = T0 - timedelta(weeks=2), T0 + timedelta(minutes=15)
    arrays = await fetch(BOOK, metrics, chosen, PRODUCTION, start, end)
    points = await fetch(BOOK, PointsOnly(), chosen, PRODUCTION, start, end)
    assert arrays.reads == points.reads and arrays.points == points.points > 0
    for metric_id, history in points.histories.items():
        assert history.times.tolist() == arrays.histories[metric_id].times.tolist()
        assert history.values.tolist() == arrays.histories[metric_id].values.tolist()
