"""Alerts on one database shared by two replicas: one alert per (run, trigger, slot), compare-and-set
updates so a person's Hold always wins, and one automatic rollback. SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.ports import Actor, AlertRecord
from bot.engine.watch import Watcher
from bot.sim.faults import FaultPlan
from bot.sim.metrics import SyntheticMetrics
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.store.conftest import T0
from tests.store.records import new_id
from tests.triggers.builders import RUN_START, RecordingNotifier, seed_runbook
from tests.triggers.builders import T0 as FAULT_DAY

ONCALL = Actor("U0SAM", "sam", frozenset({"sre_oncall"}))


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    """Two processes: two engines and connection pools, one database."""
    first, second = SqlStore(create_engine_for(database_url)), SqlStore(create_engine_for(database_url))
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


def a_breach(kind: str = "breach", trigger_id: str = "error_rate", at: datetime = T0) -> AlertRecord:
    return AlertRecord(
        id=new_id(),
        run_id="run-1",
        trigger_id=trigger_id,
        kind=kind,
        state="open",
        opened_at=at,
        message="Error rate: error_rate_pct is 2.5 against a threshold of 1 for 5m.",
        value=2.5,
        threshold=1.0,
        auto_rollback_at=at + timedelta(minutes=5),
    )


async def test_replicas_racing_to_open_an_alert_for_one_trigger_open_exactly_one(
    replicas: tuple[SqlStore, SqlStore],
) -> None:
    opened = await asyncio.gather(*(store.open_alert(a_breach()) for store in replicas for _ in range(4)))
    winners = [alert for alert in opened if alert is not None]
    assert len(winners) == 1 and winners[0].version == 1
    assert await replicas[1].active_alerts("run-1") == winners


async def test_breaches_and_incidents_share_a_slot_no_data_has_its_own_and_resolving_frees_it(
    replicas: tuple[SqlStore, SqlStore],
) -> None:
    first, second = replicas
    breach = await first.open_alert(a_breach())
    assert breach is not None
    assert await second.open_alert(a_breach("incident")) is None
    assert await second.open_alert(a_breach("no_data")) is not None
    assert await second.open_alert(a_breach(trigger_id="p95_latency")) is not None

    resolved = await second.update_alert(replace(breach, state="resolved", resolved_at=T0 + timedelta(minutes=20)))
    assert resolved is not None and resolved.version == 2
    assert await first.open_alert(a_breach(at=T0 + timedelta(minutes=30))) is not None


async def test_a_write_based_on_a_stale_read_changes_nothing_so_a_hold_is_never_undone(
    replicas: tuple[SqlStore, SqlStore],
) -> None:
    first, second = replicas
    opened = await first.open_alert(a_breach())
    assert opened is not None
    read_by_watcher = await second.get_alert(opened.id)
    assert read_by_watcher is not None
    held = await first.update_alert(replace(opened, state="held", data={"held_by": "U0SAM"}))
    assert held is not None and held.version == 2

    still_breaching = replace(read_by_watcher, value=2.7)
    assert await second.update_alert(still_breaching) is None
    assert await second.get_alert(opened.id) == held


async def test_of_two_concurrent_writes_of_one_version_exactly_one_lands(replicas: tuple[SqlStore, SqlStore]) -> None:
    first, second = replicas
    opened = await first.open_alert(a_breach())
    assert opened is not None
    marked = replace(opened, data={"auto_rollback_started_at": T0.isoformat()})
    results = await asyncio.gather(first.update_alert(marked), second.update_alert(marked))
    assert sorted(r is not None for r in results) == [False, True]
    stored = await first.get_alert(opened.id)
    assert stored is not None and stored.version == 2


# --- two watchers -----------------------------------------------------------------------------


class CountingRollback:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, alert: AlertRecord) -> str:
        self.calls.append(alert.id)
        await asyncio.sleep(0)  # let the other replica run meanwhile
        return f"Rolled back {alert.step_id}."


class NoIncidents:
    async def count_open(self, run_id: str | None, at: datetime) -> int:
        return 0

    async def opened_times(self, run_id: str | None) -> list[datetime]:
        return []


def a_watcher(store: SqlStore, clock: VirtualClock, rollback: CountingRollback) -> tuple[Watcher, RecordingNotifier]:
    runbook = seed_runbook()
    faults = FaultPlan(["error_rate_pct 2.5 from day2 14:00 for 60m"], run_start=RUN_START, calendar=runbook.calendar)
    notifier = RecordingNotifier()
    watcher = Watcher(runbook, SyntheticMetrics(faults=faults), store, notifier, clock, rollback, NoIncidents())
    return watcher, notifier


async def test_two_watchers_on_one_database_open_one_alert_and_roll_back_once(
    replicas: tuple[SqlStore, SqlStore],
) -> None:
    clock = VirtualClock(FAULT_DAY)
    rollback = CountingRollback()
    watchers = [a_watcher(store, clock, rollback) for store in replicas]
    for _ in range(20):
        await clock.advance(timedelta(minutes=1))
        await asyncio.gather(*(watcher.poll("r1", "C_ROLLOUT", "day2.1") for watcher, _ in watchers))

    kinds = [event.kind for _, notifier in watchers for event in notifier.events]
    assert kinds.count("alert_opened") == 1
    assert kinds.count("auto_rollback_pending") == 1 and kinds.count("rollback_finished") == 1
    [alert] = await replicas[0].active_alerts("r1")
    assert rollback.calls == [alert.id]
    assert alert.data["auto_rollback_ok"] is True


class HoldsBeforeTheWatcherWrites(SqlStore):
    """The second replica's store: just before its first write, on-call holds the alert on the first."""

    hold: Watcher | None = None

    async def update_alert(self, alert: AlertRecord) -> AlertRecord | None:
        if self.hold is not None:
            holder, self.hold = self.hold, None
            await holder.hold(alert.id, ONCALL)
        return await super().update_alert(alert)


async def test_a_hold_between_another_replicas_read_and_write_wins_and_nothing_rolls_back(database_url: str) -> None:
    clock = VirtualClock(FAULT_DAY)
    rollback = CountingRollback()
    first = SqlStore(create_engine_for(database_url))
    second = HoldsBeforeTheWatcherWrites(create_engine_for(database_url))
    try:
        (one, _), (two, _) = a_watcher(first, clock, rollback), a_watcher(second, clock, rollback)
        await clock.advance(timedelta(minutes=5))
        await one.poll("r1", "C_ROLLOUT", "day2.1")  # opens the alert; rollback due in five minutes
        await clock.advance(timedelta(minutes=5))
        second.hold = one
        await two.poll("r1", "C_ROLLOUT", "day2.1")  # read open, on-call holds, "still breaching" lands late
        for _ in range(5):
            await clock.advance(timedelta(minutes=1))
            await asyncio.gather(one.poll("r1", "C_ROLLOUT", "day2.1"), two.poll("r1", "C_ROLLOUT", "day2.1"))

        [alert] = await first.active_alerts("r1")
        assert alert.state == "held" and alert.data["held_by"] == "U0SAM"
        assert rollback.calls == []
    finally:
        await first.close()
        await second.close()
