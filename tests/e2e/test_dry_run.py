"""Issue 3, dry run: with ION_DRY_RUN the bot plans and records everything (audit, executions,
write-ahead targets) and changes nothing in the world; everything it says starts with DRY RUN."""

from __future__ import annotations

from pathlib import Path

from bot.bootstrap import build
from bot.engine.clock import VirtualClock
from bot.engine.records import ExecutionState, StepState, TargetStatus
from tests.e2e.databases import sqlite_url
from tests.e2e.scenario import (
    CHANNEL,
    RUN_START,
    T0,
    listen,
    run_lane,
    sam,
    settings_for,
    start_and_pass_preflight,
)
from tests.e2e.world_file import WorldFile

STEP = "day2.1"


async def test_a_dry_run_of_day21_records_everything_and_changes_nothing(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    bot = await build(settings_for(sqlite_url(tmp_path / "ion.db"), dry_run=True), clock=clock, run_start=RUN_START)
    try:
        assert bot.sim is not None
        world = WorldFile(tmp_path / "world.json")
        world.attach(bot.sim.world)  # saves the world as it starts
        untouched = world.state.read_text()
        heard = listen(bot)
        run = await start_and_pass_preflight(bot)
        assert run.dry_run
        staging = await run_lane(bot, clock, STEP, "staging")
        production = await run_lane(bot, clock, STEP, "production")
        assert staging.ok and production.ok, (staging.message, production.message)
        assert production.lane.state is StepState.DONE
        rehearsal = await bot.rollout.confirm_rollback(CHANNEL, f"{STEP}@production", sam)
        assert rehearsal.ok

        # the world is exactly as it started: no change was ever made
        assert world.read_changes() == []
        world.save(bot.sim.world)
        assert world.state.read_text() == untouched

        # ... and yet everything is recorded
        # (sorted: no time passes in a dry run, so all three start in the same virtual instant)
        executions = sorted(
            (e for e in await bot.store.executions(run.id) if e.step_id == STEP), key=lambda e: (e.kind, e.environment)
        )
        assert [(e.kind, e.environment, e.state, e.dry_run) for e in executions] == [
            ("apply", "production", ExecutionState.SUCCEEDED, True),
            ("apply", "staging", ExecutionState.SUCCEEDED, True),
            ("rollback", "production", ExecutionState.SUCCEEDED, True),
        ]
        [scale] = [r for r in await bot.store.targets(executions[0].id) if r.mutating]
        assert scale.status is TargetStatus.SKIPPED
        assert scale.snapshot == {"minInstances": 3}
        assert scale.message == "dry run: would apply ion-mentoring-api us-central1 (production): minInstances 3 -> 2"
        audit = await bot.store.audit(run.id)
        moves = [
            (e.scope, e.before, e.after)
            for e in audit
            if e.what == "step state" and (e.step_id, e.environment) == (STEP, "production")
        ]
        assert ("day2.1@production", "approved", "running") in moves
        assert ("day2.1@production", "verifying", "done") in moves
        assert any(e.what == "approve" and (e.step_id, e.environment) == (STEP, "production") for e in audit)

        # everything the bot said is marked
        assert len(heard.events) > 20
        assert [e.text for e in heard.events if not e.text.startswith("DRY RUN")] == []
    finally:
        await bot.close()
