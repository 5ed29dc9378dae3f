"""The watcher end to end on a virtual clock: synthetic metrics, injected faults, alerts, auto-rollback."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.ports import Actor, AlertRecord, Series
from bot.engine.records import Run, RunState
from bot.engine.watch import AlertNotFound, Watcher
from bot.runbook.models import Environment, Metric, Runbook
from bot.sim.faults import FaultPlan
from bot.sim.metrics import SyntheticMetrics
from tests.triggers.builders import (
    RUN_START,
    T0,
    AlertIncidents,
    Ids,
    InMemoryAlerts,
    RecordingNotifier,
    seed_runbook,
)

ONCALL = Actor("U_ONCALL", "dana", frozenset({"sre_oncall"}))


class RecordingRollback:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[datetime, AlertRecord]] = []
        self.fail = fail
        self.clock: VirtualClock | None = None

    async def __call__(self, alert: AlertRecord) -> str:
        assert self.clock is not None
        self.calls.append((self.clock.now(), alert))
        if self.fail:
            raise RuntimeError("Cloud Run refused the update")
        return f"Rolled back {alert.step_id}: minInstances 2 -> 3 in us-central1."


class CountingSource:
    """Wraps a source and counts reads per metric (the watcher must read each metric once per poll)."""

    def __init__(self, inner: SyntheticMetrics, fail: bool = False) -> None:
        self.inner = inner
        self.reads: list[str] = []
        self.fail = fail

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        self.reads.append(metric.id)
        if self.fail:
            raise ConnectionError("monitoring.googleapis.com is unreachable")
        return await self.inner.read(metric, environment, start, end)


class World:
    """A watcher wired to fakes, starting ten minutes before the fault window."""

    def __init__(
        self,
        faults: list[str],
        runbook: Runbook | None = None,
        fail_reads: bool = False,
        fail_rollback: bool = False,
    ) -> None:
        self.runbook = runbook or seed_runbook()
        self.clock = VirtualClock(T0 - timedelta(minutes=10))
        self.plan = FaultPlan(faults, run_start=RUN_START, calendar=self.runbook.calendar)
        self.metrics = SyntheticMetrics(faults=self.plan)
        self.source = CountingSource(self.metrics, fail=fail_reads)
        self.alerts = InMemoryAlerts()
        self.notifier = RecordingNotifier()
        self.rollback = RecordingRollback(fail=fail_rollback)
        self.rollback.clock = self.clock
        self.watcher = self.new_watcher()

    def new_watcher(self) -> Watcher:
        return Watcher(
            self.runbook,
            self.source,
            self.alerts,
            self.notifier,
            self.clock,
            self.rollback,
            AlertIncidents(self.alerts),
            new_id=Ids(),
        )

    async def poll_until(self, until: datetime) -> dict[str, datetime]:
        """Poll every minute up to ``until``; return when each event kind was first seen."""
        first: dict[str, datetime] = {}
        while self.clock.now() < until:
            await self.clock.advance(timedelta(minutes=1))
            seen = len(self.notifier.events)
            await self.watcher.poll("r1", "C_ROLLOUT", "day2.1")
            for event in self.notifier.events[seen:]:
                first.setdefault(event.kind, self.clock.now())
        return first


async def test_an_injected_error_spike_alerts_then_rolls_back_exactly_once() -> None:
    world = World(["error_rate_pct 2.5 from day2 14:00 for 15m"])
    first = await world.poll_until(T0 + timedelta(minutes=40))

    assert first["alert_opened"] == T0 + timedelta(minutes=5)  # the first poll after the 5-minute window
    [opened] = [e for e in world.notifier.events if e.kind == "alert_opened"]
    assert opened.data["trigger_id"] == "error_rate" and opened.data["step_id"] == "day2.1"
    assert opened.data["mention_role"] == "sre_oncall"
    assert opened.data["buttons"] == ["rollback", "acknowledge", "hold"]
    assert opened.data["value"] == 2.5 and opened.data["threshold"] == 1.0
    assert opened.data["held_for_seconds"] == 300
    assert "Automatic rollback of day2.1 at 14:10 CST" in opened.text  # 20:10 UTC, in the run's zone

    [(called_at, alert)] = world.rollback.calls
    assert called_at == T0 + timedelta(minutes=10)
    assert alert.trigger_id == "error_rate" and alert.step_id == "day2.1"
    finished = [e for e in world.notifier.events if e.kind == "rollback_finished"]
    assert [e.text for e in finished] == ["Rolled back day2.1: minInstances 2 -> 3 in us-central1."]
    assert first["alert_resolved"] == T0 + timedelta(minutes=25)  # clear from 20:15, ten-minute cool-down
    assert world.notifier.kinds().count("alert_opened") == 1


async def test_a_restarted_watcher_never_rolls_back_twice() -> None:
    world = World(["error_rate_pct 2.5 from day2 14:00 for 30m"])
    await world.poll_until(T0 + timedelta(minutes=11))
    assert len(world.rollback.calls) == 1
    world.watcher = world.new_watcher()  # same store, fresh process
    await world.poll_until(T0 + timedelta(minutes=20))
    assert len(world.rollback.calls) == 1


async def test_a_rollback_started_before_a_crash_is_not_started_again() -> None:
    world = World(["error_rate_pct 2.5 from day2 14:00 for 30m"])
    await world.poll_until(T0 + timedelta(minutes=6))
    [alert] = world.alerts.of_kind("breach")
    alert.data["auto_rollback_started_at"] = (T0 + timedelta(minutes=6)).isoformat()  # crashed mid-way
    world.watcher = world.new_watcher()
    await world.poll_until(T0 + timedelta(minutes=15))
    assert world.rollback.calls == []


async def test_holding_the_alert_stops_the_automatic_rollback() -> None:
    world = World(["error_rate_pct 2.5 from day2 14:00 for 30m"])
    await world.poll_until(T0 + timedelta(minutes=6))
    [alert] = world.alerts.of_kind("breach")
    await world.watcher.acknowledge(alert.id, ONCALL)
    held = await world.watcher.hold(alert.id, ONCALL)
    assert held.state == "held" and held.acknowledged_by == "U_ONCALL"
    await world.poll_until(T0 + timedelta(minutes=20))
    assert world.rollback.calls == []
    assert world.notifier.kinds().count("alert_opened") == 1


async def test_a_fault_relative_to_a_step_starts_when_its_production_lane_finished() -> None:
    world = World(["error_rate_pct 3 after day2.1 for 10m"])
    await world.poll_until(T0)
    assert world.alerts.by_id == {}
    world.metrics.note_step_done("day2.1", T0)
    first = await world.poll_until(T0 + timedelta(minutes=8))
    assert first["alert_opened"] == T0 + timedelta(minutes=5)


async def test_missing_data_raises_no_data_not_a_breach_and_clears_when_it_returns() -> None:
    world = World(["error_rate_pct no_data from day2 14:00 for 10m"])
    first = await world.poll_until(T0 + timedelta(minutes=15))
    assert first["no_data"] == T0 + timedelta(minutes=4)  # stale from 14:02, three unknown polls
    assert "alert_opened" not in first
    [no_data] = world.alerts.of_kind("no_data")
    assert no_data.trigger_id == "error_rate" and no_data.state == "resolved"
    assert no_data.resolved_at == T0 + timedelta(minutes=10)


async def test_an_unreadable_source_is_no_data_for_every_trigger_it_feeds() -> None:
    world = World([], fail_reads=True)
    await world.poll_until(T0 - timedelta(minutes=7))
    no_data = world.alerts.of_kind("no_data")
    assert sorted(a.trigger_id for a in no_data) == [
        "cache_hit_drop",
        "error_rate",
        "p95_latency",
        "replication_lag",
    ]
    assert "unreachable" in no_data[0].message
    assert world.alerts.of_kind("breach") == []


async def test_reads_each_metric_once_per_poll_however_many_triggers_use_it() -> None:
    triggers = [
        {"id": "error_rate", "title": "Error rate", "condition": "error_rate_pct > 1 for 5m"},
        {"id": "error_rate_hour", "title": "Error rate (hour)", "condition": "error_rate_pct > 0.5 over 60m"},
        {"id": "error_rate_now", "title": "Error rate (now)", "condition": "error_rate_pct > 5"},
        {"id": "p95_latency", "title": "P95", "condition": "p95_latency_ms > 100 for 5m"},
    ]
    world = World([], runbook=seed_runbook(triggers=triggers))
    await world.poll_until(T0 - timedelta(minutes=9))
    assert sorted(world.source.reads) == ["error_rate_pct", "p95_latency_ms"]


async def test_a_failed_automatic_rollback_is_reported_and_not_retried() -> None:
    world = World(["error_rate_pct 2.5 from day2 14:00 for 30m"], fail_rollback=True)
    await world.poll_until(T0 + timedelta(minutes=20))
    assert len(world.rollback.calls) == 1
    [finished] = [e for e in world.notifier.events if e.kind == "rollback_finished"]
    assert finished.data["ok"] is False
    assert "failed: Cloud Run refused the update" in finished.text and "/ion rollback" in finished.text


async def test_a_declared_incident_alerts_at_once_and_suppresses_the_incident_trigger() -> None:
    world = World([])
    alert = await world.watcher.declare_incident("r1", "C_ROLLOUT", "checkout is failing for EU users", ONCALL)
    assert alert.kind == "incident" and alert.trigger_id == "production_incident"
    [event] = world.notifier.events
    assert event.kind == "alert_opened" and event.data["mention_role"] == "sre_oncall"
    assert "declared by dana: checkout is failing" in event.text
    again = await world.watcher.declare_incident("r1", "C_ROLLOUT", "also APAC", ONCALL)
    assert again.id == alert.id and again.data["also_declared"] == [{"by": "dana", "text": "also APAC"}]
    await world.poll_until(T0 - timedelta(minutes=5))
    assert [a.id for a in await world.alerts.active_alerts("r1")] == [alert.id]
    await world.watcher.resolve(alert.id, ONCALL)
    assert world.notifier.kinds()[-1] == "alert_resolved"
    await world.poll_until(T0)
    assert await world.alerts.active_alerts("r1") == []


async def test_acting_on_a_resolved_alert_says_nothing_was_changed() -> None:
    world = World([])
    with pytest.raises(AlertNotFound, match="nothing was changed"):
        await world.watcher.hold("missing", ONCALL)


def a_run(state: RunState) -> Run:
    return Run("r1", "week17", "C_ROLLOUT", RUN_START, state, T0 - timedelta(days=1), "U_LEAD")


async def test_a_paused_run_still_alerts_but_its_automatic_rollback_waits_until_it_resumes() -> None:
    world = World(["error_rate_pct 2.5 from day2 14:00 for 60m"])
    world.alerts.runs["r1"] = a_run(RunState.PAUSED)
    first = await world.poll_until(T0 + timedelta(minutes=20))

    assert first["alert_opened"] == T0 + timedelta(minutes=5)
    [opened] = [e for e in world.notifier.events if e.kind == "alert_opened"]
    assert "Auto-rollback paused with the run; press Roll back to do it now." in opened.text
    assert opened.data["auto_rollback_at"] is None and opened.data["auto_rollback_paused"] is True
    assert world.rollback.calls == []

    world.alerts.runs["r1"] = a_run(RunState.ACTIVE)
    first = await world.poll_until(T0 + timedelta(minutes=30))
    assert first["auto_rollback_resumed"] == T0 + timedelta(minutes=21)
    [resumed] = [e for e in world.notifier.events if e.kind == "auto_rollback_resumed"]
    assert "automatic rollback of day2.1 at 14:26 CST" in resumed.text  # 20:26 UTC: the whole 5 minutes were left
    [(called_at, _)] = world.rollback.calls
    assert called_at == T0 + timedelta(minutes=26)


async def test_pausing_mid_countdown_keeps_the_time_that_was_left_for_after_the_resume() -> None:
    world = World(["error_rate_pct 2.5 from day2 14:00 for 60m"])
    await world.poll_until(T0 + timedelta(minutes=7))  # opened at 20:05, rollback due 20:10
    world.alerts.runs["r1"] = a_run(RunState.PAUSED)
    first = await world.poll_until(T0 + timedelta(minutes=15))
    assert first["auto_rollback_paused"] == T0 + timedelta(minutes=8)
    [paused] = [e for e in world.notifier.events if e.kind == "auto_rollback_paused"]
    assert "press Roll back to do it now. It starts 2m after the run resumes" in paused.text
    [alert] = world.alerts.of_kind("breach")
    assert alert.state == "open" and alert.auto_rollback_at is None
    assert world.rollback.calls == []

    world.alerts.runs["r1"] = a_run(RunState.ACTIVE)
    await world.poll_until(T0 + timedelta(minutes=25))
    [(called_at, _)] = world.rollback.calls
    assert called_at == T0 + timedelta(minutes=18)  # resumed at 20:16, two minutes left


async def test_a_held_run_waits_like_a_paused_one() -> None:
    world = World(["error_rate_pct 2.5 from day2 14:00 for 60m"])
    world.alerts.runs["r1"] = a_run(RunState.HELD)
    await world.poll_until(T0 + timedelta(minutes=30))
    assert world.rollback.calls == []
    assert world.notifier.kinds().count("alert_opened") == 1


async def test_an_acknowledged_alert_still_rolls_back_on_time() -> None:
    world = World(["error_rate_pct 2.5 from day2 14:00 for 30m"])
    await world.poll_until(T0 + timedelta(minutes=6))
    [alert] = world.alerts.of_kind("breach")
    acknowledged = await world.watcher.acknowledge(alert.id, ONCALL)
    assert acknowledged.state == "acknowledged" and acknowledged.version == alert.version + 1
    await world.poll_until(T0 + timedelta(minutes=12))
    [(called_at, _)] = world.rollback.calls
    assert called_at == T0 + timedelta(minutes=10)
    [stored] = world.alerts.of_kind("breach")
    assert stored.state == "acknowledged" and stored.data["auto_rollback_ok"] is True
