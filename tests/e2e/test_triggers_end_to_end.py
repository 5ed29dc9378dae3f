"""Issue 5: an injected fault after day2.1 opens an alert through the real watcher, the watcher
rolls day2.1 back on its own after the trigger's delay, and a Hold stops it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import Bot, build
from bot.engine.clock import VirtualClock
from bot.engine.ports import Event
from bot.engine.records import StepState
from tests.e2e.databases import sqlite_url
from tests.e2e.scenario import (
    PRODUCTION_PROJECT,
    RUN_START,
    T0,
    Heard,
    follow_production_steps,
    listen,
    run_lane,
    sam,
    settings_for,
    start_and_pass_preflight,
)
from tests.e2e.world_file import project_services

STEP = "day2.1"
TRIGGER = "error_rate"
US = "ion-mentoring-api/us-central1"


@dataclass
class Rollout:
    """A bot whose day2.1 just finished in production, with the fault starting now."""

    bot: Bot
    clock: VirtualClock
    heard: Heard
    run_id: str
    before: dict[str, dict[str, Any]]  # production services before day2.1 ran there
    fault_start: datetime

    @property
    def interval(self) -> timedelta:
        return self.bot.runbook.schedule.watch_interval

    async def poll_until(self, kind: str, limit: timedelta) -> Event | None:
        """Advance one watch interval at a time, polling each time, until an event of ``kind``."""
        seen = len(self.heard.events)
        end = self.clock.now() + limit
        while self.clock.now() < end:
            await self.clock.advance(self.interval)
            await self.bot.watch_once()
            fresh = [e for e in self.heard.events[seen:] if e.kind == kind]
            if fresh:
                return fresh[0]
        return None

    async def production_lane(self) -> StepState:
        lane = await self.bot.store.get_lane(self.run_id, STEP, "production")
        assert lane is not None
        return lane.state


async def day21_done_in_production(tmp_path: Path, fault: str, follow: bool = True) -> Rollout:
    clock = VirtualClock(T0)
    settings = settings_for(sqlite_url(tmp_path / "ion.db"))
    bot = await build(settings, clock=clock, faults=[fault], run_start=RUN_START)
    heard = listen(bot)
    finished = follow_production_steps(bot) if follow else []
    run = await start_and_pass_preflight(bot)
    staged = await run_lane(bot, clock, STEP, "staging")
    assert staged.ok, staged.message
    assert bot.sim is not None
    before = project_services(bot.sim.world, PRODUCTION_PROJECT)
    result = await run_lane(bot, clock, STEP, "production", bot.watch_once)
    assert result.ok and result.lane.state is StepState.DONE, result.message
    assert project_services(bot.sim.world, PRODUCTION_PROJECT)[US]["min_instances"] == 2
    return Rollout(bot, clock, heard, run.id, before, finished[0][1] if finished else clock.now())


@pytest.fixture
async def long_fault(tmp_path: Path) -> AsyncIterator[Rollout]:
    # 15 minutes: still breaching when the 2-minute auto-rollback delay after the alert is up.
    rollout = await day21_done_in_production(tmp_path, "error_rate_pct 2.5 after day2.1 for 15m")
    try:
        yield rollout
    finally:
        await rollout.bot.close()


def assert_names_the_breach(alert: Event, rollout: Rollout) -> None:
    assert alert.data["trigger_id"] == TRIGGER and alert.step_id == STEP
    assert (alert.data["value"], alert.data["threshold"], alert.data["held_for_seconds"]) == (2.5, 1.0, 300.0)
    assert alert.text.startswith(
        "Error rate > 1% for > 5 minutes: error_rate_pct is 2.5 against a threshold of 1 for 5m"
    )
    opened_after = rollout.clock.now() - rollout.fault_start
    assert timedelta(minutes=5) <= opened_after <= timedelta(minutes=5) + rollout.interval


async def test_the_watcher_alerts_and_rolls_day21_back_to_its_exact_snapshot(long_fault: Rollout) -> None:
    rollout = long_fault
    alert = await rollout.poll_until("alert_opened", timedelta(minutes=10))
    assert alert is not None, "no alert within 10 minutes of the fault"
    assert_names_the_breach(alert, rollout)
    opened_at = rollout.clock.now()
    assert alert.data["auto_rollback_at"] == (opened_at + timedelta(minutes=2)).isoformat()

    started = await rollout.poll_until("auto_rollback_pending", timedelta(minutes=10))
    assert started is not None, "the watcher did not roll day2.1 back"
    assert rollout.clock.now() == opened_at + timedelta(minutes=2)  # at the first poll after the delay
    engine_said, watcher_said = rollout.heard.of("rollback_finished")
    assert engine_said.text == "day2.1 (production) rolled back: 1 target(s) restored to their snapshots and read back."
    assert watcher_said.data["auto"] is True and watcher_said.data["ok"] is True
    assert len(rollout.heard.of("auto_rollback_pending")) == 1
    assert await rollout.production_lane() is StepState.ROLLED_BACK
    assert rollout.bot.sim is not None
    assert project_services(rollout.bot.sim.world, PRODUCTION_PROJECT) == rollout.before
    rollbacks = [e for e in await rollout.bot.store.executions(rollout.run_id) if e.kind == "rollback"]
    assert [(e.environment, e.requested_by) for e in rollbacks] == [("production", "ionbot")]


async def test_a_hold_on_the_alert_prevents_the_automatic_rollback(long_fault: Rollout) -> None:
    rollout = long_fault
    alert = await rollout.poll_until("alert_opened", timedelta(minutes=10))
    assert alert is not None
    held = await rollout.bot.watcher.hold(str(alert.data["alert_id"]), sam)
    assert held.state == "held"
    assert await rollout.poll_until("auto_rollback_pending", timedelta(minutes=15)) is None
    assert await rollout.production_lane() is StepState.DONE
    assert rollout.bot.sim is not None
    assert project_services(rollout.bot.sim.world, PRODUCTION_PROJECT)[US]["min_instances"] == 2
    assert not [e for e in await rollout.bot.store.executions(rollout.run_id) if e.kind == "rollback"]


async def test_the_briefs_ten_minute_fault_is_rolled_back_while_it_still_breaches(tmp_path: Path) -> None:
    """The brief's fault: 10 minutes of 2.5 % opens the alert at +5m; the runbook's 2-minute hold
    window ends at +7m, while the error rate is still high, so day2.1 is rolled back by itself."""
    rollout = await day21_done_in_production(tmp_path, "error_rate_pct 2.5 after day2.1 for 10m")
    try:
        alert = await rollout.poll_until("alert_opened", timedelta(minutes=10))
        assert alert is not None
        assert_names_the_breach(alert, rollout)
        assert await rollout.poll_until("auto_rollback_pending", timedelta(minutes=10)) is not None
        assert await rollout.production_lane() is StepState.ROLLED_BACK
        assert rollout.bot.sim is not None
        assert project_services(rollout.bot.sim.world, PRODUCTION_PROJECT) == rollout.before
    finally:
        await rollout.bot.close()


async def test_bootstrap_starts_after_step_faults_when_the_production_lane_finishes(tmp_path: Path) -> None:
    """Without the e2e wiring (follow_production_steps), 'after day2.1' faults must still start:
    bootstrap.build accepts them, so it has to tell the sim when a production lane finishes."""
    rollout = await day21_done_in_production(tmp_path, "error_rate_pct 2.5 after day2.1 for 15m", follow=False)
    try:
        alert = await rollout.poll_until("alert_opened", timedelta(minutes=10))
        assert alert is not None, "bootstrap never told the sim that day2.1 finished, so the fault never started"
    finally:
        await rollout.bot.close()
