"""The shipped runbooks load, and week17.yaml holds every step, gate and number of the seed guide."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runbook.loader import default_runbook_path, load_runbook
from bot.runbook.models import (
    CloudRunEnv,
    CloudRunScale,
    CloudSqlDelete,
    CloudSqlPromote,
    CloudSqlReplica,
    HttpLoad,
    HttpSmoke,
    Runbook,
    ScalingSchedule,
    SqlBenchmark,
    SqlExecute,
)

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"

SEED_STEPS = [
    "day1.1", "day1.2", "day1.3", "day1.4",
    "day2.1", "day2.2", "day2.3", "day2.4",
    "day3.1", "day3.2", "day3.3",
    "day4.1", "day5.1", "day6.1", "day7.1",
    "day8.1", "day8.2", "day9.1", "day9.2", "day10.1", "day10.2",
]  # fmt: skip
SEED_GATES = ["preflight", "gonogo.day3", "gonogo.day7", "gonogo.day10"]


@pytest.fixture(scope="module")
def week17() -> Runbook:
    return load_runbook(RUNBOOKS / "week17.yaml")


def test_the_example_runbook_loads() -> None:
    example = load_runbook(RUNBOOKS / "example.yaml")
    assert (len(example.gates), len(example.days), len(example.steps()), len(example.triggers)) == (
        1,
        2,
        3,
        2,
    )


def test_every_seed_step_and_gate_is_encoded(week17: Runbook) -> None:
    assert [step.id for step in week17.steps()] == SEED_STEPS
    assert [gate.id for gate in week17.gates] == SEED_GATES


def test_calendar_environments_and_services_match_the_brief(week17: Runbook) -> None:
    assert (week17.id, week17.calendar.working_days, week17.calendar.timezone) == (
        "week17",
        10,
        "America/Chicago",
    )
    production = week17.environment("production")
    assert production is not None and production.production and production.project == "ion-mentoring"
    staging = week17.environment("staging")
    assert staging is not None and staging.allowed_hosts == ["staging.ion-mentoring.dev"]
    service = week17.service("ion-mentoring-api")
    assert service is not None and service.regions == ["us-central1", "europe-west1", "asia-southeast1"]
    assert [(p.name, p.first_day, p.last_day) for p in week17.phases] == [
        ("Quick Wins", 1, 5),
        ("Major Optimizations", 6, 10),
    ]


def test_the_metric_catalogue_has_exactly_the_agreed_ids(week17: Runbook) -> None:
    assert {m.id for m in week17.metrics} == {
        "error_rate_pct", "availability_pct", "p95_latency_ms", "response_time_ms", "cache_hit_rate_pct",
        "l1_hit_rate_pct", "l2_hit_rate_pct", "db_query_ms", "db_query_p95_ms", "db_replication_lag_ms",
        "db_cpu_pct", "db_small_cpu_pct", "db_pool_utilization_pct", "db_pool_errors", "cpu_utilization_pct",
        "l1_memory_mb",
        "cache_eviction_rate", "recommend_hit_rate_pct", "bulk_hit_rate_pct", "prefetch_success_pct",
        "incidents",
    }  # fmt: skip
    baselines = {m.id: (m.baseline, m.target) for m in week17.metrics}
    assert baselines["p95_latency_ms"] == (36.4, 35)
    assert baselines["l1_hit_rate_pct"] == (64.2, 70)
    assert baselines["prefetch_success_pct"] == (None, 80)


def test_day2_1_lowers_us_min_instances_to_two_after_a_staging_load_test(week17: Runbook) -> None:
    step = week17.step("day2.1")
    assert step is not None and step.staging_first and step.environments == ["staging", "production"]
    scale, load = step.actions
    assert isinstance(scale, CloudRunScale) and (scale.regions, scale.min_instances) == (["us-central1"], 2)
    assert isinstance(load, HttpLoad) and load.environments == ["staging"]
    assert (load.rate_rps, load.concurrency, load.max_requests, load.path) == (
        5000,
        500,
        100000,
        "/api/v2/health",
    )
    assert step.cost_impact is not None and step.cost_impact.monthly_usd == -100
    assert [(rule.role, rule.count) for rule in step.approvals] == [("manager", 1), ("sre_oncall", 1)]


def test_day2_numbers(week17: Runbook) -> None:
    eu, schedule = week17.step("day2.2"), week17.step("day2.3")
    assert eu is not None and schedule is not None
    assert isinstance(eu.actions[0], CloudRunScale) and eu.actions[0].min_instances == 1
    assert isinstance(eu.actions[1], HttpSmoke) and eu.actions[1].requests == 100
    rules = schedule.actions[0]
    assert isinstance(rules, ScalingSchedule)
    assert [(r.min_instances, r.max_instances) for r in [*rules.rules, rules.otherwise]] == [
        (4, 150), (4, 150), (3, 120), (2, 80),
    ]  # fmt: skip


def test_day1_indexes_and_benchmark(week17: Runbook) -> None:
    indexes, bench = week17.step("day1.2"), week17.step("day1.4")
    assert indexes is not None and bench is not None
    names = [a.verify_expect for a in indexes.actions if isinstance(a, SqlExecute)]
    assert names == ["idx_persona_tone_pace_intent", "idx_user_preferences_userid", "idx_sessions_sessionid"]
    benchmark = bench.actions[0]
    assert isinstance(benchmark, SqlBenchmark)
    assert (benchmark.repeat, benchmark.max_mean_ms, benchmark.max_p95_ms) == (20, 15, 25)
    assert bench.rollback_if == []  # a read-only benchmark: rolling it back would revert nothing


def test_day1s_rollback_conditions_sit_on_its_last_change_and_are_sustained(week17: Runbook) -> None:
    pool = week17.step("day1.3")
    assert pool is not None and pool.environments == ["production"]
    assert [c.text for c in pool.rollback_if] == [
        "db_query_ms > baseline + 2 for 10m",
        "db_pool_errors > 0 for 5m",
        "db_cpu_pct > 70 for 10m",
    ]
    assert all(c.mode == "for" for c in pool.rollback_if)


def test_day3_cache_env_values(week17: Runbook) -> None:
    step = week17.step("day3.1")
    assert step is not None
    envs = [a for a in step.actions if isinstance(a, CloudRunEnv)]
    assert [a.set for a in envs] == [{"CACHE_MAX_ITEMS": "1500", "CACHE_TTL": "45"}] * 2
    assert envs[1].regions == ["us-central1", "europe-west1", "asia-southeast1"]


def test_day7_downsizes_through_a_replica_on_db_custom_8_and_keeps_the_standby_48_hours(week17: Runbook) -> None:
    step = week17.step("day7.1")
    assert step is not None
    kinds = [a.kind for a in step.actions]
    assert kinds == ["cloud_sql.replica", "manual", "metric.gate", "cloud_sql.promote", "manual", "metric.gate"]
    replica, promote = step.actions[0], step.actions[3]
    assert isinstance(replica, CloudSqlReplica) and isinstance(promote, CloudSqlPromote)
    assert (replica.instance, replica.master, replica.tier) == ("ion-primary-small", "ion-primary", "db-custom-8-16384")
    assert (promote.instance, promote.standby) == ("ion-primary-small", "ion-primary")
    assert step.cost_impact is not None and (step.cost_impact.service, step.cost_impact.monthly_usd) == (
        "Cloud SQL",
        -100,
    )
    assert [c.text for c in step.rollback_if] == [
        "db_small_cpu_pct > 70 for 10m",
        "db_replication_lag_ms > 500 for 2m",
    ]
    deletion = week17.step("day9.2")
    assert deletion is not None and deletion.depends_on == ["day7.1"] and deletion.approvals
    [delete] = deletion.actions
    assert isinstance(delete, CloudSqlDelete)
    assert (delete.instance, delete.after_promotion_of, delete.keep_for.total_seconds()) == (
        "ion-primary",
        "ion-primary-small",
        48 * 3600,
    )


def test_the_database_rollback_procedure_restores_the_tier_the_instance_has(week17: Runbook) -> None:
    [instance] = week17.sql_instances
    commands = [c for p in week17.rollback_procedures for c in p.commands if "--tier=" in c]
    assert len(commands) == 1
    assert all(f"--tier={instance.tier} " in c for c in commands)


def test_the_five_rollback_triggers(week17: Runbook) -> None:
    assert {t.id: t.condition.text for t in week17.triggers} == {
        "error_rate": "error_rate_pct > 1 for 5m",
        "p95_latency": "p95_latency_ms > 100 for 5m",
        "cache_hit_drop": "cache_hit_rate_pct < baseline - 5 for 5m",
        "replication_lag": "db_replication_lag_ms > 500 for 2m",
        "production_incident": "incidents > 0",
    }
    error_rate = week17.triggers[0]
    assert error_rate.auto_rollback_after is not None and error_rate.auto_rollback_after.total_seconds() == 120


def test_gates_schedule_and_targets(week17: Runbook) -> None:
    preflight = week17.gate("preflight")
    assert preflight is not None and preflight.signoffs == ["manager", "lead", "sre_oncall"]
    assert [len(s.items) for s in preflight.sections] == [5, 4, 4]
    assert [(g.day, g.unlocks_day) for g in week17.gates] == [(1, 1), (3, 6), (7, 8), (10, None)]
    schedule = week17.schedule
    assert [(s.name, s.at.strftime("%H:%M"), s.timezone) for s in schedule.standups] == [
        ("US", "09:00", "America/Chicago"),
        ("EU", "18:00", "Europe/Berlin"),
        ("Asia", "22:00", "Asia/Singapore"),
    ]
    assert schedule.daily_report_at.strftime("%H:%M") == "17:00" and schedule.summary_day == 5
    targets = week17.targets
    assert [(c.service, c.savings_usd) for c in targets.cost] == [
        ("Cloud Run", -250),
        ("Cloud SQL", -100),
        ("Cache", -50),
    ]
    assert targets.overall_monthly_savings_usd == -615 and len(targets.quality) == 5


def test_default_runbook_path_follows_ion_runbook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ION_RUNBOOK", raising=False)
    assert default_runbook_path() == Path("runbooks/week17.yaml")
    monkeypatch.setenv("ION_RUNBOOK", "/srv/rb.yaml")
    assert default_runbook_path() == Path("/srv/rb.yaml")
