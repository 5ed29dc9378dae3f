"""A trigger at 02:00 pages on-call through the real HTTP client against a fake PagerDuty on
127.0.0.1: trigger, then acknowledge (Hold in Slack), then resolve, each exactly once, with two
replicas on one database and PagerDuty answering 429 and 503 on the way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.clock import VirtualClock
from bot.engine.ports import Actor, AlertRecord
from bot.engine.watch import Watcher
from bot.oncall.pagerduty import PagerDuty
from bot.oncall.paging import METHOD, Pager, PagingAlerts, dedup_key
from bot.sim.faults import FaultPlan
from bot.sim.metrics import SyntheticMetrics
from bot.sim.pagerduty_api import EVENTS, FakePagerDuty
from bot.slack.delivery.outbox import Outbox
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.triggers.builders import RUN_START, RecordingNotifier, seed_runbook

NIGHT = datetime(2026, 11, 18, 7, 55, tzinfo=UTC)  # Wednesday (day 3) 01:55 in Chicago
ONCALL = Actor("U0SAM", "sam", frozenset({"sre_oncall"}))


class NoIncidents:
    async def count_open(self, run_id: str | None, at: datetime) -> int:
        return 0

    async def opened_times(self, run_id: str | None) -> list[datetime]:
        return []


class NoRollback:
    async def __call__(self, alert: AlertRecord) -> str:
        return "nothing to roll back in this test"


@dataclass
class Replica:
    store: SqlStore
    outbox: Outbox
    watcher: Watcher
    pagerduty: PagerDuty


@pytest.fixture
async def fake_pagerduty() -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def replica(database_url: str, clock: VirtualClock, fake: FakePagerDuty) -> Replica:
    store = SqlStore(create_engine_for(database_url), clock)
    slack = AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/")  # never called here
    outbox = Outbox(store, slack, clock)
    pagerduty = PagerDuty(clock, fake.token, "routing-key-1", rest_url=fake.base_url, events_url=fake.base_url)
    pager = Pager(outbox, pagerduty, store)
    outbox.route(METHOD, pager.deliver)
    # An hour of elevated errors from 02:00 on a trigger without automatic rollback: PagerDuty escalates.
    runbook = seed_runbook([{"id": "error_rate", "title": "Error rate", "condition": "error_rate_pct > 1 for 5m"}])
    faults = FaultPlan(["error_rate_pct 2.5 from day3 02:00 for 60m"], run_start=RUN_START, calendar=runbook.calendar)
    watcher = Watcher(
        runbook,
        SyntheticMetrics(faults=faults),
        PagingAlerts(store, pager),
        RecordingNotifier(),
        clock,
        NoRollback(),
        NoIncidents(),
    )
    return Replica(store, outbox, watcher, pagerduty)


async def close(replicas: list[Replica]) -> None:
    for r in replicas:
        await r.pagerduty.close()
        await r.store.close()


async def minutes(clock: VirtualClock, replicas: list[Replica], n: int) -> None:
    """``n`` minutes of both replicas watching and delivering, as `ionbot serve` does."""
    for _ in range(n):
        await clock.advance(timedelta(minutes=1))
        await asyncio.gather(*(r.watcher.poll("r1", "C_ROLLOUT", "day2.1") for r in replicas))
        await asyncio.gather(*(r.outbox.deliver_pending() for r in replicas))


async def test_a_trigger_at_two_in_the_morning_pages_acknowledges_and_resolves_once_across_replicas(
    database_url: str, fake_pagerduty: FakePagerDuty
) -> None:
    clock = VirtualClock(NIGHT)
    replicas = [replica(database_url, clock, fake_pagerduty) for _ in range(2)]
    try:
        fake_pagerduty.rate_limit(EVENTS, times=1, retry_after=30)  # the first page meets a 429
        fake_pagerduty.fail(EVENTS, times=2, status=503)  # and then two 503s
        await minutes(clock, replicas, 15)
        [alert] = await replicas[0].store.active_alerts("r1")
        key = dedup_key(alert.id)
        assert fake_pagerduty.actions(key) == ["trigger"]
        assert fake_pagerduty.attempts[EVENTS] >= 4  # 429, 503, 503, then accepted
        trigger = fake_pagerduty.events[0]
        assert trigger["routing_key"] == "routing-key-1"
        assert trigger["payload"]["severity"] == "critical"
        assert "error" in trigger["payload"]["summary"].lower()

        fake_pagerduty.fail(EVENTS, times=1, status=502)
        await replicas[1].watcher.hold(alert.id, ONCALL)  # on-call pressed Hold in Slack, on the other replica
        await minutes(clock, replicas, 5)
        assert fake_pagerduty.actions(key) == ["trigger", "acknowledge"]
        assert fake_pagerduty.incidents[key] == "acknowledged"

        await minutes(clock, replicas, 90)  # the errors end at 03:00; the alert resolves after its cool-down
        assert (await replicas[0].store.get_alert(alert.id)).state == "resolved"  # type: ignore[union-attr]
        assert fake_pagerduty.actions(key) == ["trigger", "acknowledge", "resolve"]
        assert fake_pagerduty.incidents[key] == "resolved"
        assert await replicas[0].store.pending() == []
    finally:
        await close(replicas)


async def test_a_malformed_event_is_dropped_not_retried_forever(
    database_url: str, fake_pagerduty: FakePagerDuty
) -> None:
    clock = VirtualClock(NIGHT)
    [one] = [replica(database_url, clock, fake_pagerduty)]
    try:
        await one.outbox.send(
            METHOD, {"channel": "pagerduty", "event": {"event_action": "trigger", "payload": {}}}, "pd:bad"
        )
        assert await one.store.pending() == []
        assert fake_pagerduty.events == []
    finally:
        await close([one])
