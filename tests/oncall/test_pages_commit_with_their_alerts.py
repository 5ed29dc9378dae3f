"""A PagerDuty event is in the outbox if and only if its alert change is stored: the two are one unit
of work, so a process that dies between them leaves neither, and the next poll (or the person's next
press) stores both and pages once; the channel hears only of what was stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.clock import VirtualClock
from bot.engine.ports import JSON
from bot.engine.watch import Watcher
from bot.oncall.pagerduty import PagerDuty
from bot.oncall.paging import METHOD, Pager, PagingAlerts, dedup_key
from bot.sim.faults import FaultPlan
from bot.sim.metrics import SyntheticMetrics
from bot.sim.pagerduty_api import FakePagerDuty
from bot.slack.delivery.outbox import Outbox
from bot.slack.delivery.ports import OutboxMessage
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.engine.fakes import SimulatedCrash
from tests.oncall.test_paging import NIGHT, ONCALL, NoIncidents, NoRollback, fake_pagerduty
from tests.triggers.builders import RUN_START, RecordingNotifier, seed_runbook

__all__ = ["fake_pagerduty"]


class DyingOutbox(Outbox):
    """The outbox of a process that dies as it stores its next page, while ``dying`` is set."""

    dying = False

    async def queue(self, method: str, args: dict[str, JSON], dedupe_key: str) -> OutboxMessage:
        if self.dying:
            raise SimulatedCrash(f"the process died storing {dedupe_key}")
        return await super().queue(method, args, dedupe_key)


@dataclass
class Bot:
    store: SqlStore
    outbox: DyingOutbox
    watcher: Watcher
    notifier: RecordingNotifier
    pagerduty: PagerDuty


@pytest.fixture
async def bot(database_url: str, fake_pagerduty: FakePagerDuty) -> AsyncIterator[Bot]:
    clock = VirtualClock(NIGHT)
    store = SqlStore(create_engine_for(database_url), clock)
    outbox = DyingOutbox(store, AsyncWebClient(token="xoxb-unused", base_url="http://127.0.0.1:9/api/"), clock)
    url = fake_pagerduty.base_url
    pagerduty = PagerDuty(clock, fake_pagerduty.token, "routing-key-1", rest_url=url, events_url=url)
    pager = Pager(outbox, pagerduty, store)
    outbox.route(METHOD, pager.deliver)
    runbook = seed_runbook([{"id": "error_rate", "title": "Error rate", "condition": "error_rate_pct > 1 for 5m"}])
    faults = FaultPlan(["error_rate_pct 2.5 from day3 02:00 for 60m"], run_start=RUN_START, calendar=runbook.calendar)
    notifier = RecordingNotifier()
    alerts = PagingAlerts(store, pager)
    watcher = Watcher(runbook, SyntheticMetrics(faults=faults), alerts, notifier, clock, NoRollback(), NoIncidents())
    try:
        yield Bot(store, outbox, watcher, notifier, pagerduty)
    finally:
        await pagerduty.close()
        await store.close()


async def poll_until_it_dies(bot: Bot, clock: VirtualClock) -> None:
    for _ in range(20):
        await clock.advance(timedelta(minutes=1))
        try:
            await bot.watcher.poll("r1", "C_ROLLOUT", "day2.1")
        except SimulatedCrash:
            return
    raise AssertionError("the trigger never fired, so nothing was cut off")


async def test_a_process_dying_between_an_alert_and_its_page_keeps_neither_and_the_next_poll_pages_once(
    bot: Bot, fake_pagerduty: FakePagerDuty
) -> None:
    clock = bot.store.clock
    assert isinstance(clock, VirtualClock)
    bot.outbox.dying = True
    await poll_until_it_dies(bot, clock)
    assert await bot.store.active_alerts("r1") == []  # the alert went with its page
    assert await bot.store.pending() == []
    assert bot.notifier.events == []  # and the channel was told nothing

    bot.outbox.dying = False
    await bot.watcher.poll("r1", "C_ROLLOUT", "day2.1")  # the restarted bot's next poll
    [alert] = await bot.store.active_alerts("r1")
    assert fake_pagerduty.actions(dedup_key(alert.id)) == ["trigger"]  # sent once the unit committed
    assert bot.notifier.kinds() == ["alert_opened"]


async def test_a_hold_cut_off_before_its_page_is_not_kept_and_pressed_again_acknowledges_once(
    bot: Bot, fake_pagerduty: FakePagerDuty
) -> None:
    clock = bot.store.clock
    assert isinstance(clock, VirtualClock)
    for _ in range(20):
        await clock.advance(timedelta(minutes=1))
        if await bot.watcher.poll("r1", "C_ROLLOUT", "day2.1"):
            break
    [alert] = await bot.store.active_alerts("r1")
    bot.outbox.dying = True
    with pytest.raises(SimulatedCrash):
        await bot.watcher.hold(alert.id, ONCALL)
    stored = await bot.store.get_alert(alert.id)
    assert stored is not None and stored.state == "open" and stored.version == alert.version
    assert [m.dedupe_key for m in await bot.store.pending()] == []

    bot.outbox.dying = False
    held = await bot.watcher.hold(alert.id, ONCALL)  # Slack's retry of the press, or the person again
    assert held.state == "held"
    assert fake_pagerduty.actions(dedup_key(alert.id)) == ["trigger", "acknowledge"]
