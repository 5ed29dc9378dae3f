"""Synthetic metrics: deterministic, near the seed's baselines, reacting to the world and to faults."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bot.runbook.models import Calendar, Environment, Metric
from bot.sim.faults import FaultPlan, FaultSyntaxError, parse_fault, working_day
from bot.sim.metrics import BASE_CACHE_ITEMS, SHAPES, StaticWorld, SyntheticMetrics, _cache_settings, _flags, _vcpus
from tests.triggers.builders import RUN_START, T0

PRODUCTION = Environment(name="production", project="ion-mentoring", production=True)
NIGHT = datetime(2026, 11, 18, 8, 0, tzinfo=UTC)  # 02:00 in Chicago
AFTERNOON = datetime(2026, 11, 18, 21, 0, tzinfo=UTC)  # 15:00 in Chicago, a Wednesday


def metric(metric_id: str, baseline: float | None = None) -> Metric:
    return Metric(id=metric_id, title=metric_id, unit="pct", source="incidents", baseline=baseline)


async def mean_over_hour(source: SyntheticMetrics, metric_id: str, at: datetime) -> float:
    got = await source.read(metric(metric_id), PRODUCTION, at - timedelta(minutes=59), at)
    return sum(p.value for p in got.points) / len(got.points)


async def test_the_same_minute_always_gives_the_same_value() -> None:
    a = await SyntheticMetrics().read(metric("p95_latency_ms"), PRODUCTION, T0 - timedelta(minutes=30), T0)
    b = await SyntheticMetrics().read(metric("p95_latency_ms"), PRODUCTION, T0 - timedelta(minutes=5), T0)
    assert a.points[-6:] == b.points
    assert len({p.value for p in a.points}) > 5  # there is noise, just reproducible noise


async def test_points_sit_on_the_minute_grid() -> None:
    got = await SyntheticMetrics().read(metric("error_rate_pct"), PRODUCTION, T0 - timedelta(seconds=150), T0)
    assert [p.at for p in got.points] == [T0 - timedelta(minutes=2), T0 - timedelta(minutes=1), T0]
    assert got.step_seconds == 60.0


@pytest.mark.parametrize(
    ("metric_id", "low", "high"),
    [
        ("error_rate_pct", 0.1, 0.5),
        ("p95_latency_ms", 30, 45),
        ("cache_hit_rate_pct", 81, 84),
        ("l1_hit_rate_pct", 63, 66),
        ("db_query_ms", 15, 22),
        ("db_replication_lag_ms", 20, 70),
    ],
)
async def test_values_stay_near_the_seed_baselines(metric_id: str, low: float, high: float) -> None:
    got = await SyntheticMetrics().read(metric(metric_id), PRODUCTION, NIGHT, AFTERNOON)
    assert all(low <= p.value <= high for p in got.points)


async def test_the_catalogue_baseline_wins_over_the_built_in_one() -> None:
    assert 33 < await mean_over_hour(SyntheticMetrics(), "p95_latency_ms", T0) < 40  # the seed's 36.4
    got = await SyntheticMetrics().read(metric("p95_latency_ms", 10.0), PRODUCTION, T0, T0)
    assert 8 < got.points[0].value < 13


async def test_us_business_hours_are_busier_than_the_night() -> None:
    source = SyntheticMetrics()
    assert await mean_over_hour(source, "cpu_utilization_pct", AFTERNOON) > 1.2 * await mean_over_hour(
        source, "cpu_utilization_pct", NIGHT
    )


async def test_the_metrics_follow_what_the_runbook_changes() -> None:
    world = StaticWorld()
    source = SyntheticMetrics(world)
    before = {
        m: await mean_over_hour(source, m, T0)
        for m in ("p95_latency_ms", "l1_hit_rate_pct", "cache_hit_rate_pct", "db_query_ms", "db_cpu_pct")
    }
    world.mins = {**world.mins, "us-central1": 2}
    fewer_instances = await mean_over_hour(source, "p95_latency_ms", T0)
    assert 0.5 < fewer_instances - before["p95_latency_ms"] < 2 and fewer_instances < 50
    world.env = {r: {"CACHE_MAX_ITEMS": "1500", "CACHE_TTL": "45"} for r in world.mins}
    world.indexes = True
    world.tier = "db-custom-8-16384"
    after = {m: await mean_over_hour(source, m, T0) for m in before}

    assert after["p95_latency_ms"] < before["p95_latency_ms"]  # the cache and indexes win it back
    assert after["l1_hit_rate_pct"] == pytest.approx(70, abs=0.5)
    assert after["cache_hit_rate_pct"] > before["cache_hit_rate_pct"] + 2
    assert after["db_query_ms"] == pytest.approx(13.3, abs=1.2)
    assert before["db_cpu_pct"] < after["db_cpu_pct"] < 70
    world.env = {r: {"CACHE_MAX_ITEMS": "1500", "ENABLE_CACHE_WARMUP": "true"} for r in world.mins}
    assert await mean_over_hour(source, "l1_hit_rate_pct", T0) == pytest.approx(72, abs=0.5)


async def test_the_phase_two_features_lift_their_endpoint_metrics_past_the_seeds_targets() -> None:
    world = StaticWorld()
    source = SyntheticMetrics(world)
    assert await mean_over_hour(source, "recommend_hit_rate_pct", T0) == pytest.approx(15, abs=1)
    world.env = {
        "us-central1": {
            "ENABLE_MULTI_TIER_WARMING": "true",
            "RECOMMEND_CACHE_TTL": "600",
            "BULK_PROCESS_L1_CACHE": "true",
        }
    }
    assert await mean_over_hour(source, "prefetch_success_pct", T0) > 80
    assert await mean_over_hour(source, "recommend_hit_rate_pct", T0) > 45
    assert await mean_over_hour(source, "bulk_hit_rate_pct", T0) > 50
    world.env = {"us-central1": {"BULK_PROCESS_L1_CACHE": "false"}}
    assert await mean_over_hour(source, "bulk_hit_rate_pct", T0) == pytest.approx(22, abs=1)


async def test_faults_replace_values_and_open_gaps() -> None:
    plan = FaultPlan(
        ["error_rate_pct 2.5 from day2 14:00 for 3m", "* no_data from day2 14:05 for 2m"],
        run_start=RUN_START,
        calendar=Calendar(working_days=10),
    )
    source = SyntheticMetrics(faults=plan)
    got = await source.read(metric("error_rate_pct"), PRODUCTION, T0 - timedelta(minutes=1), T0 + timedelta(minutes=8))
    by_minute = {int((p.at - T0).total_seconds() // 60): p.value for p in got.points}
    assert [by_minute[m] for m in (0, 1, 2)] == [2.5, 2.5, 2.5]
    assert by_minute[-1] < 1 and by_minute[3] < 1
    assert 5 not in by_minute and 6 not in by_minute and by_minute[7] < 1
    latency = await source.read(
        metric("p95_latency_ms"), PRODUCTION, T0 + timedelta(minutes=5), T0 + timedelta(minutes=6)
    )
    assert latency.points == ()


async def test_where_faults_overlap_the_last_declared_wins_in_a_read_as_in_override() -> None:
    plan = FaultPlan(
        ["error_rate_pct 2.5 from day2 14:00 for 10m", "error_rate_pct 7 from day2 14:03 for 2m"],
        run_start=RUN_START,
        calendar=Calendar(working_days=10),
    )
    got = await SyntheticMetrics(faults=plan).read(metric("error_rate_pct"), PRODUCTION, T0, T0 + timedelta(minutes=9))
    assert [p.value for p in got.points] == [2.5, 2.5, 2.5, 7.0, 7.0, 2.5, 2.5, 2.5, 2.5, 2.5]
    assert [plan.override("error_rate_pct", p.at).value for p in got.points] == [p.value for p in got.points]  # type: ignore[union-attr]


def test_fault_lines_parse_in_both_forms() -> None:
    absolute = parse_fault("error_rate_pct 2.5 from day2 14:00 for 10m")
    assert (absolute.metric, absolute.value, absolute.day, absolute.duration) == (
        "error_rate_pct",
        2.5,
        2,
        timedelta(minutes=10),
    )
    relative = parse_fault("p95_latency_ms 180 after day2.1 +5m for 1h")
    assert (relative.after_step, relative.offset, relative.duration) == (
        "day2.1",
        timedelta(minutes=5),
        timedelta(hours=1),
    )
    assert parse_fault("* no_data after day3.2 for 5m").value is None


@pytest.mark.parametrize(
    "line",
    [
        "error_rate_pct 2.5 at noon",
        "error_rate_pct lots from day2 14:00 for 5m",
        "error_rate_pct 2 from day2 25:00 for 5m",
        "error_rate_pct 2 after day2.1 for 5x",
    ],
)
def test_a_bad_fault_line_shows_an_example(line: str) -> None:
    with pytest.raises(FaultSyntaxError, match=r"e\.g\. 'error_rate_pct 2\.5 from day2 14:00 for 10m'|in the fault"):
        parse_fault(line)


def test_day_numbers_skip_weekends() -> None:
    friday = datetime(2026, 11, 20).date()
    assert working_day(friday, 1, ["mon", "tue", "wed", "thu", "fri"]) == friday
    assert working_day(friday, 2, ["mon", "tue", "wed", "thu", "fri"]) == datetime(2026, 11, 23).date()


def test_a_day_fault_without_a_run_start_is_refused() -> None:
    with pytest.raises(ValueError, match="pass run_start"):
        FaultPlan(["error_rate_pct 2 from day2 14:00 for 5m"])


async def test_a_reads_points_are_the_values_of_their_minutes_one_by_one() -> None:
    """``read`` hashes the series' part of each point's noise key once; ``value_at`` hashes it whole."""
    source = SyntheticMetrics()
    for metric_id in ("p95_latency_ms", "error_rate_pct", "db_replication_lag_ms", "cache_hit_rate_pct"):
        got = await source.read(metric(metric_id), PRODUCTION, NIGHT, NIGHT + timedelta(hours=3))
        assert len(got.points) == 181
        assert [p.value for p in got.points] == [
            source.value_at(metric(metric_id), PRODUCTION, p.at) for p in got.points
        ]


def _every_effect_at_once(source: SyntheticMetrics, metric_id: str, env: str, base: float) -> float:
    """The effects as they were written before each metric asked only for what it reads."""
    world = source.world
    missing = max(0, source._ref_mins - sum(world.min_instances(env).values()))
    items, warmup = _cache_settings(world.env_vars(env))
    l1_gain = min(5.8, 5.8 * (items - BASE_CACHE_ITEMS) / 500) + (2.0 if warmup else 0.0)
    vcpu = _vcpus(world.sql_tier(env))
    tier_factor = (source._ref_vcpu / vcpu) ** 0.35 if source._ref_vcpu and vcpu else 1.0
    indexed = world.has_indexes(env)
    flags = _flags(world.env_vars(env))
    return {
        "prefetch_success_pct": 26.0 if "ENABLE_MULTI_TIER_WARMING" in flags else 0.0,
        "recommend_hit_rate_pct": 32.0 if "RECOMMEND_CACHE_TTL" in flags else 0.0,
        "bulk_hit_rate_pct": 31.0 if "BULK_PROCESS_L1_CACHE" in flags else 0.0,
        "p95_latency_ms": 1.2 * missing - 0.4 * l1_gain - (1.0 if indexed else 0.0),
        "response_time_ms": 0.5 * missing,
        "cpu_utilization_pct": 5.0 * missing,
        "l1_hit_rate_pct": l1_gain,
        "cache_hit_rate_pct": 0.5 * l1_gain,
        "l1_memory_mb": 0.0016 * (items - BASE_CACHE_ITEMS),
        "cache_eviction_rate": base * (BASE_CACHE_ITEMS / items - 1.0),
        "db_query_ms": -5.0 if indexed else 0.0,
        "db_query_p95_ms": -4.0 if indexed else 0.0,
        "db_cpu_pct": base * (tier_factor - 1.0),
    }.get(metric_id, 0.0)


def test_each_metric_moves_with_the_world_exactly_as_when_every_effect_was_worked_out_at_once() -> None:
    rng = random.Random(3)
    world = StaticWorld()
    source = SyntheticMetrics(world)
    for _ in range(200):
        world.mins = {"us-central1": rng.randint(0, 4), "europe-west1": rng.randint(0, 3), "asia-southeast1": 1}
        world.env = {
            region: {
                "CACHE_MAX_ITEMS": rng.choice(("", "0", "800", "1000", "1500", "x")),
                "ENABLE_CACHE_WARMUP": rng.choice(("", "true", "no")),
                rng.choice(("ENABLE_MULTI_TIER_WARMING", "RECOMMEND_CACHE_TTL", "BULK_PROCESS_L1_CACHE")): rng.choice(
                    ("1", "false", "")
                ),
            }
            for region in rng.sample(["us-central1", "europe-west1"], rng.randint(0, 2))
        }
        world.tier = rng.choice((None, "db-custom-16-32768", "db-custom-8-16384", "db-f1-micro"))
        world.indexes = rng.random() < 0.5
        for metric_id, shape in SHAPES.items():
            base = shape.baseline * rng.uniform(0.5, 1.5)
            expected = _every_effect_at_once(source, metric_id, "production", base)
            assert source._effect(metric_id, PRODUCTION, base) == expected, metric_id
