"""A step's own rollback_if conditions on the virtual clock: watched once its production lane is done,
until the end of the next working day, never after it was rolled back, with a Roll back for that step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.engine.clock import VirtualClock
from bot.engine.ports import AlertRecord, Series
from bot.engine.records import Run, RunState, StepLane, StepState
from bot.engine.triggers import trigger_of, watch_ends
from bot.engine.watch import Watcher
from bot.runbook.models import Environment, Metric, Runbook
from bot.sim.faults import FaultPlan
from bot.sim.metrics import SyntheticMetrics
from bot.slack.blocks import ActionValue
from bot.slack.blocks.alert_card import alert_card
from bot.slack.blocks.from_views import alert_card_view
from tests.triggers.builders import (
    RUN_START,
    T0,
    AlertIncidents,
    Ids,
    InMemoryAlerts,
    RecordingNotifier,
    seed_metrics,
    seed_runbook,
)

CPU = "rollback_if:day2.1:0"
LAG = "rollback_if:day2.1:1"
DB_CPU: dict[str, Any] = {
    "id": "db_cpu_pct",
    "title": "Database CPU",
    "unit": "pct",
    "query": {"filter": 'metric.type="cloudsql.googleapis.com/database/cpu/utilization"', "reducer": "REDUCE_MAX"},
    "baseline": 45,
}


def steps_runbook() -> Runbook:
    """Day 2 of a run from Mon 16 Nov: day2.1 (staging, then production) with two rollback_if
    conditions, one on a metric no run-wide trigger reads; day2.2, a later production step."""
    day2 = {
        "number": 2,
        "title": "Cost Optimization",
        "steps": [
            {
                "id": "day2.1",
                "title": "Database Downsizing",
                "environments": ["staging", "production"],
                "rollback_if": ["db_cpu_pct > 70 for 10m", "db_replication_lag_ms > 500 for 2m"],
            },
            {"id": "day2.2", "title": "Reduce Minimum Instances (EU Region)"},
        ],
    }
    return seed_runbook(metrics=[*seed_metrics(), DB_CPU], days=[day2])


class CountingSource:
    def __init__(self, inner: SyntheticMetrics) -> None:
        self.inner = inner
        self.reads: list[str] = []

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        self.reads.append(metric.id)
        return await self.inner.read(metric, environment, start, end)


class NoAutoRollback:
    def __init__(self) -> None:
        self.calls: list[AlertRecord] = []

    async def __call__(self, alert: AlertRecord) -> str:
        self.calls.append(alert)
        return "rolled back"


class Steps:
    """A watcher over ``steps_runbook`` whose latest production step is day2.2."""

    def __init__(self, faults: list[str], start: datetime = T0 - timedelta(minutes=10)) -> None:
        self.runbook = steps_runbook()
        self.clock = VirtualClock(start)
        plan = FaultPlan(faults, run_start=RUN_START, calendar=self.runbook.calendar)
        self.source = CountingSource(SyntheticMetrics(faults=plan))
        self.alerts = InMemoryAlerts()
        self.alerts.runs["r1"] = Run("r1", "week17-test", "C_ROLLOUT", RUN_START, RunState.ACTIVE, T0, "U_LEAD")
        self.notifier = RecordingNotifier()
        self.rollback = NoAutoRollback()
        self.watcher = Watcher(
            self.runbook,
            self.source,
            self.alerts,
            self.notifier,
            self.clock,
            self.rollback,
            AlertIncidents(self.alerts),
            new_id=Ids(),
        )
        self.lane("day2.1", "staging", StepState.DONE, T0 - timedelta(hours=2))

    def lane(self, step_id: str, env: str, state: StepState, at: datetime) -> None:
        self.alerts.put_lane(StepLane("r1", step_id, env, state, changed_at=at))

    async def poll_until(self, until: datetime) -> dict[str, datetime]:
        first: dict[str, datetime] = {}
        while self.clock.now() < until:
            await self.clock.advance(timedelta(minutes=1))
            seen = len(self.notifier.events)
            await self.watcher.poll("r1", "C_ROLLOUT", "day2.2")
            for event in self.notifier.events[seen:]:
                first.setdefault(event.kind, self.clock.now())
        return first

    def opened(self) -> list[AlertRecord]:
        return [a for a in self.alerts.by_id.values() if a.kind == "breach"]


async def test_a_done_steps_breached_condition_opens_one_alert_naming_that_step_for_on_call() -> None:
    world = Steps(["db_cpu_pct 85 from day2 14:00 for 30m"])
    world.lane("day2.1", "production", StepState.DONE, T0 - timedelta(minutes=30))
    world.lane("day2.2", "production", StepState.DONE, T0 - timedelta(minutes=20))
    first = await world.poll_until(T0 + timedelta(minutes=25))

    assert first["alert_opened"] == T0 + timedelta(minutes=10)  # the whole 10-minute window, not one point
    [event] = [e for e in world.notifier.events if e.kind == "alert_opened"]
    assert event.step_id == "day2.1" and event.data["trigger_id"] == CPU  # not the latest step, day2.2
    assert (event.data["value"], event.data["threshold"], event.data["held_for_seconds"]) == (85.0, 70.0, 600.0)
    assert event.data["mention_role"] == "sre_oncall" and event.data["environment"] == "production"
    assert event.data["buttons"] == ["rollback", "acknowledge", "hold"]
    assert event.text.startswith(
        "Rollback condition of day2.1 Database Downsizing: db_cpu_pct is 85 against a threshold of 70 for 10m "
        "(db_cpu_pct > 70 for 10m)."
    )
    assert "press Roll back to roll day2.1 back (not automatic)" in event.text
    assert event.data["auto_rollback_at"] is None and world.rollback.calls == []
    [alert] = world.opened()
    assert alert.state == "open" and alert.auto_rollback_at is None


async def test_the_alert_card_rolls_back_the_step_the_condition_judges() -> None:
    world = Steps(["db_cpu_pct 85 from day2 14:00 for 30m"])
    world.lane("day2.1", "production", StepState.DONE, T0 - timedelta(minutes=30))
    world.lane("day2.2", "production", StepState.DONE, T0 - timedelta(minutes=20))
    await world.poll_until(T0 + timedelta(minutes=10))
    [alert] = world.opened()
    run = world.alerts.runs["r1"]

    view = alert_card_view(alert, run, world.runbook, dry_run=False, oncall_group="S0ONCALL")
    message = alert_card(view)
    texts = str(message.blocks)
    assert view.title == "Rollback condition of day2.1 Database Downsizing"
    assert view.condition == "db_cpu_pct > 70 for 10m" and view.unit == "pct"
    assert "*Step this condition judges:* day2.1 Database Downsizing (production)" in texts
    assert "No automatic rollback: press Roll back to roll day2.1 back" in texts and "<!subteam^S0ONCALL>" in texts
    [actions] = [b for b in message.blocks if b["type"] == "actions"]
    [roll_back] = [e for e in actions["elements"] if e["text"]["text"] == "Roll back"]
    value = ActionValue.decode(roll_back["value"])
    assert value is not None and (value.step, value.env, value.alert) == ("day2.1", "production", alert.id)


async def test_nothing_is_watched_before_the_production_lane_is_done() -> None:
    world = Steps(["db_cpu_pct 85 from day2 14:00 for 30m"])
    world.lane("day2.1", "production", StepState.VERIFYING, T0 - timedelta(minutes=30))
    await world.poll_until(T0 + timedelta(minutes=15))
    assert world.opened() == [] and "db_cpu_pct" not in world.source.reads  # not even read

    world.lane("day2.1", "production", StepState.DONE, world.clock.now())
    first = await world.poll_until(T0 + timedelta(minutes=20))
    assert first["alert_opened"] == T0 + timedelta(minutes=16)  # the first poll after it was done
    assert [a.trigger_id for a in world.opened()] == [CPU]


async def test_a_rolled_back_steps_conditions_are_not_watched() -> None:
    world = Steps(["db_cpu_pct 85 from day2 14:00 for 30m", "db_replication_lag_ms 900 from day2 14:00 for 30m"])
    world.lane("day2.1", "production", StepState.ROLLED_BACK, T0 - timedelta(minutes=5))
    await world.poll_until(T0 + timedelta(minutes=20))
    assert [a.trigger_id for a in world.opened()] == ["replication_lag"]  # the run-wide trigger only
    assert "db_cpu_pct" not in world.source.reads


async def test_after_a_rollback_the_open_alert_only_closes_and_no_new_one_opens() -> None:
    world = Steps(["db_cpu_pct 85 from day2 14:00 for 20m", "db_cpu_pct 90 from day2 14:40 for 30m"])
    world.lane("day2.1", "production", StepState.DONE, T0 - timedelta(minutes=30))
    await world.poll_until(T0 + timedelta(minutes=12))
    [alert] = world.opened()
    world.lane("day2.1", "production", StepState.ROLLED_BACK, world.clock.now())
    first = await world.poll_until(T0 + timedelta(minutes=80))
    assert first["alert_resolved"] == T0 + timedelta(minutes=30)  # clear from 14:20, ten-minute cool-down
    assert [(a.id, a.state) for a in world.opened()] == [(alert.id, "resolved")]  # 14:40 opened nothing
    assert world.notifier.kinds().count("alert_opened") == 1


async def test_conditions_are_watched_until_the_end_of_the_next_working_day_then_stop() -> None:
    # day2.1 done Tuesday 13:30 in Chicago: watched through Wednesday, not on Thursday.
    wednesday_late = datetime(2026, 11, 19, 5, 30, tzinfo=UTC)  # Wed 23:30 in Chicago
    world = Steps(["db_cpu_pct 85 from day3 23:35 for 20m", "db_cpu_pct 85 from day4 10:00 for 30m"], wednesday_late)
    world.lane("day2.1", "production", StepState.DONE, T0 - timedelta(minutes=30))
    first = await world.poll_until(wednesday_late + timedelta(minutes=50))
    assert first["alert_opened"] == wednesday_late + timedelta(minutes=15)  # Wed 23:45
    # Past midnight it is no longer watched, but the open alert is still judged until it clears.
    assert first["alert_resolved"] == wednesday_late + timedelta(minutes=35)  # clear 23:55, +10m
    thursday = datetime(2026, 11, 19, 15, 55, tzinfo=UTC)  # Thu 09:55 in Chicago
    await world.clock.advance(thursday - world.clock.now())
    world.source.reads.clear()
    await world.poll_until(thursday + timedelta(minutes=40))
    assert world.notifier.kinds().count("alert_opened") == 1 and "db_cpu_pct" not in world.source.reads


def test_the_watch_period_covers_the_next_working_day_and_a_weekend() -> None:
    runbook = steps_runbook()
    chicago_midnight = {"wed": datetime(2026, 11, 19, 6, tzinfo=UTC), "tue": datetime(2026, 11, 24, 6, tzinfo=UTC)}
    assert watch_ends(runbook, datetime(2026, 11, 17, 19, 30, tzinfo=UTC)) == chicago_midnight["wed"]  # Tue
    assert watch_ends(runbook, datetime(2026, 11, 18, 5, 59, tzinfo=UTC)) == chicago_midnight["wed"]  # Tue 23:59
    assert watch_ends(runbook, datetime(2026, 11, 20, 22, 0, tzinfo=UTC)) == chicago_midnight["tue"]  # Fri: to Monday


async def test_step_conditions_share_the_polls_reads_one_per_metric() -> None:
    world = Steps([])
    world.lane("day2.1", "production", StepState.DONE, T0 - timedelta(minutes=30))
    await world.poll_until(T0 - timedelta(minutes=9))
    # The lag condition rides on the replication_lag trigger's read; only db_cpu_pct is new.
    assert sorted(world.source.reads) == sorted(
        ["error_rate_pct", "p95_latency_ms", "cache_hit_rate_pct", "db_replication_lag_ms", "db_cpu_pct"]
    )


def test_an_alerts_trigger_id_resolves_to_the_steps_condition() -> None:
    runbook = steps_runbook()
    lag = trigger_of(runbook, LAG)
    assert lag is not None and lag.condition.text == "db_replication_lag_ms > 500 for 2m"
    assert lag.environment == "production" and lag.auto_rollback_after is None
    assert trigger_of(runbook, "rollback_if:day2.1:7") is None and trigger_of(runbook, "rollback_if:day9.9:0") is None
    assert trigger_of(runbook, "error_rate") is runbook.triggers[0]
