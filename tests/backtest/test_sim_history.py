"""The sim answers past windows from its history: the world as it was when the simulation started,
with the history's own faults, never the world as it is now."""

from __future__ import annotations

from datetime import timedelta
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
