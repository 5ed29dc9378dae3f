"""Issue 15, Day 7 as the seed says: create a replica on the smaller tier, test it, promote it, keep the
old instance as the standby for 48 hours, then delete it after approval. The whole bot on the sim
profile, on a virtual clock, through the Rollout facade as the demo team."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.bootstrap import Bot, build
from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.records import StepState
from bot.sim.world import World
from tests.e2e.scenario import (
    CHANNEL,
    PRODUCTION_PROJECT,
    RUN_START,
    T0,
    Heard,
    approve_lane,
    finish,
    lee,
    listen,
    run_lane,
    sam,
    settings_for,
    start_and_pass_preflight,
)
from tests.store.conftest import sqlite_url

SMALL, OLD = "ion-primary-small", "ion-primary"


@dataclass
class Week:
    bot: Bot
    clock: VirtualClock
    heard: Heard
    run_id: str

    @property
    def world(self) -> World:
        assert self.bot.sim is not None
        return self.bot.sim.world

    def instance(self, name: str) -> tuple[str | None, str] | None:
        found = self.world.sql.get((PRODUCTION_PROJECT, name))
        return None if found is None else (found.master, found.tier)

    async def lane(self, step_id: str) -> StepState:
        lane = await self.bot.store.get_lane(self.run_id, step_id, "production")
        assert lane is not None
        return lane.state


async def week(tmp_path: Path, faults: list[str] | None = None) -> Week:
    clock = VirtualClock(T0)
    bot = await build(settings_for(sqlite_url(tmp_path / "ion.db")), clock=clock, faults=faults, run_start=RUN_START)
    heard = listen(bot)
    run = await start_and_pass_preflight(bot)
    await decide_yes(bot, "gonogo.day3")  # Day 7 is in Phase 2, which the Day 3 decision opens
    return Week(bot, clock, heard, run.id)


async def decide_yes(bot: Bot, gate_id: str) -> None:
    rollout = bot.rollout
    gate = bot.runbook.gate(gate_id)
    assert gate is not None
    for section in gate.sections:
        for item in section.items:
            await rollout.gate_tick(CHANNEL, gate.id, item.id, lee)
    view = await rollout.gate_check_health(CHANNEL, gate.id, sam)
    for result in view.record.health:
        if result.passed is not True:
            await rollout.gate_override(CHANNEL, gate.id, result.label, "checked by hand on the dashboard", lee)
    await rollout.gate_decide(CHANNEL, gate.id, True, None, lee)


@pytest.fixture
async def downsized(tmp_path: Path) -> AsyncIterator[Week]:
    w = await week(tmp_path)
    try:
        result = await run_lane(w.bot, w.clock, "day7.1", "production")
        assert result.ok and result.lane.state is StepState.DONE, result.message
        yield w
    finally:
        await w.bot.close()


async def test_day_7_creates_the_replica_promotes_it_and_keeps_the_old_primary_as_standby(downsized: Week) -> None:
    w = downsized
    assert w.instance(SMALL) == (None, "db-custom-8-16384")  # promoted: a primary on the smaller tier
    assert w.instance(OLD) == (None, "db-custom-16-32768")  # untouched: the standby
    texts = [e.text for e in w.heard.of("execution_progress")]
    created = next(i for i, t in enumerate(texts) if "ion-primary-small (production): created" in t)
    promoted = next(i for i, t in enumerate(texts) if "promoted from read replica of ion-primary to primary" in t)
    assert created < promoted
    waits = [
        t for t in texts if "db_small_cpu_pct < 70 over 30m" in t and "30m window starts when the change landed" in t
    ]
    assert len(waits) == 2, "each CPU gate waits 30 minutes after its own change landed"


async def test_48_hours_later_the_standby_is_deleted_only_after_approval(downsized: Week) -> None:
    w = downsized
    bot = w.bot
    await decide_yes(bot, "gonogo.day7")  # Day 7's decision point opens Phase 3
    plan = await bot.rollout.request_run(CHANNEL, "day9.2", "production", sam)
    assert any(
        "ion-primary (production): instance primary on db-custom-16-32768 -> deleted" in line
        for line in plan.change_lines
    )
    with pytest.raises(Refused, match="not approved yet"):
        await bot.rollout.start_execution(CHANNEL, "day9.2", "production", sam, plan.fingerprint)
    assert w.instance(OLD) is not None
    await w.clock.advance(timedelta(hours=48))
    fingerprint, runner = await approve_lane(bot, "day9.2", "production")
    started = await bot.rollout.start_execution(CHANNEL, "day9.2", "production", runner, fingerprint)
    result = await finish(w.clock, started.task)
    assert result.ok and result.lane.state is StepState.DONE, result.message
    assert w.instance(OLD) is None and w.instance(SMALL) == (None, "db-custom-8-16384")


async def test_a_rollback_after_the_promotion_says_demotion_is_impossible_and_names_the_standby(
    downsized: Week,
) -> None:
    w = downsized
    preview = await w.bot.rollout.rollback_preview(CHANNEL, "day7.1", sam)
    assert any("Cloud SQL cannot demote a primary back to a read replica" in line for line in preview.lines)
    with pytest.raises(Refused) as refused:
        await w.bot.rollout.confirm_rollback(CHANNEL, "day7.1", sam)
    assert refused.value.message.startswith("day7.1 (production) cannot be rolled back: ")
    assert "The fallback is the standby ion-primary" in refused.value.message
    assert w.instance(SMALL) == (None, "db-custom-8-16384") and w.instance(OLD) == (None, "db-custom-16-32768")
    assert await w.lane("day7.1") is StepState.DONE


async def test_a_rollback_before_the_promotion_deletes_the_replica(tmp_path: Path) -> None:
    # The replica runs hot under test: the first CPU gate fails, before anything is promoted.
    w = await week(tmp_path, faults=["db_small_cpu_pct 95 from day1 09:00 for 3h"])
    try:
        result = await run_lane(w.bot, w.clock, "day7.1", "production")
        assert not result.ok and result.lane.state is StepState.FAILED
        assert "db_small_cpu_pct < 70 over 30m" in result.message
        assert w.instance(SMALL) == (OLD, "db-custom-8-16384")  # still a replica: never promoted
        preview = await w.bot.rollout.rollback_preview(CHANNEL, "day7.1", sam)
        assert preview.lines == [
            "ion-primary-small (production): exists True -> False",
            "ion-primary-small (production): role read replica of ion-primary -> (unset)",
            "ion-primary-small (production): tier db-custom-8-16384 -> (unset)",
        ]
        rolled = await w.bot.rollout.confirm_rollback(CHANNEL, "day7.1", sam)
        assert rolled.ok and rolled.lane.state is StepState.ROLLED_BACK, rolled.message
        assert w.instance(SMALL) is None and w.instance(OLD) == (None, "db-custom-16-32768")
    finally:
        await w.bot.close()
