"""A bot process to be killed: ``python -m tests.e2e.crash_driver URL WORLD META KILL_POINT``.

It builds the whole bot (bootstrap.build, sim profile) on the database at URL with the world
persisted at WORLD, passes the pre-flight gate, runs day3.1 in staging, writes the production
services as they are to META, then runs day3.1 in production (cloud_run.env over three regions)
and kills itself with os._exit(137) at KILL_POINT, the way a crash or an OOM kill would:

    before-first-apply   right after the first target's write-ahead snapshot was committed
    between-targets      right after the first target's outcome was committed, before the second
    after-second-apply   right after the second target's change landed, before its outcome was recorded

or lets day3.1 finish in production, starts its rollback, and kills itself there:

    rollback-after-first-revert      right after the first restore landed, before it was recorded
    rollback-between-targets         right after the first target's restore was recorded, before the second
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from bot.engine.records import StepState, TargetRecord
from bot.sim.world import World, WorldChange
from bot.store.repository import SqlStore
from tests.e2e.scenario import (
    CHANNEL,
    PRODUCTION_PROJECT,
    approve_lane,
    bot_on_world_file,
    finish,
    sam,
    staged,
    tick_checklist,
)
from tests.e2e.world_file import project_services

KILLED = 137
SAVE_TARGET_KILLS = {"before-first-apply": 1, "between-targets": 2}
WORLD_CHANGE_KILLS = {"after-second-apply": 2}
# A restore's records: the rollback's write-ahead, its outcome, then the original target settled.
ROLLBACK_KILLS = {"rollback-after-first-revert": ("world", 1), "rollback-between-targets": ("store", 3)}
APPLY_KILL_POINTS = (*SAVE_TARGET_KILLS, *WORLD_CHANGE_KILLS)
KILL_POINTS = (*APPLY_KILL_POINTS, *ROLLBACK_KILLS)
STEP = "day3.1"


def die(why: str) -> None:
    print(f"killed {why}", flush=True)
    os._exit(KILLED)


def arm_store_kill(after_calls: int) -> None:
    """Exit right after the n-th save_target from now has committed (it is durable on return)."""
    original = SqlStore.save_target
    calls = 0

    async def save_target(self: SqlStore, record: TargetRecord) -> None:
        nonlocal calls
        await original(self, record)
        calls += 1
        if calls == after_calls:
            die(f"after save_target #{calls} ({record.target_key} {record.status.value})")

    SqlStore.save_target = save_target  # type: ignore[method-assign,assignment]


def arm_world_kill(after_changes: int, world_listeners: list[object]) -> None:
    """Exit right after the n-th production change landed (and the world file was saved)."""
    changes = 0

    def listener(change: WorldChange) -> None:
        nonlocal changes
        if change.project == PRODUCTION_PROJECT:
            changes += 1
            if changes == after_changes:
                die(f"after production change #{changes} ({change.name} {change.region}) landed")

    world_listeners.append(listener)


async def main(url: str, world_path: Path, meta_path: Path, kill_point: str) -> int:
    bot, clock, world = await bot_on_world_file(url, world_path)
    run, not_staged = await staged(bot, clock, STEP)
    if not_staged:
        print(not_staged, flush=True)
        return 2
    fingerprint, runner = await approve_lane(bot, STEP, "production")
    meta = {"run_id": run.id, "before": project_services(world, PRODUCTION_PROJECT), "at": clock.now().isoformat()}
    await asyncio.to_thread(meta_path.write_text, json.dumps(meta, sort_keys=True), encoding="utf-8")
    if kill_point in ROLLBACK_KILLS:
        started = await bot.rollout.start_execution(CHANNEL, STEP, "production", runner, fingerprint)
        result = await finish(clock, started.task)
        await tick_checklist(bot, STEP, clock=clock)  # accepted, done: the rollback undoes a finished step
        lane = await bot.store.get_lane(run.id, STEP, "production")
        result = replace(result, lane=lane) if lane is not None else result
        if result.lane.state is not StepState.DONE:
            print(f"day3.1 in production did not finish: {result.message}", flush=True)
            return 2
        how, count = ROLLBACK_KILLS[kill_point]
        if how == "store":
            arm_store_kill(count)
        else:
            arm_kill_on_world(world, count)
        undone = await bot.rollout.confirm_rollback(CHANNEL, f"{STEP}@production", sam)
        print(f"not killed: the rollback ended with {undone.message}", flush=True)
        await bot.close()
        return 3
    if kill_point in SAVE_TARGET_KILLS:
        arm_store_kill(SAVE_TARGET_KILLS[kill_point])
    else:
        arm_kill_on_world(world, WORLD_CHANGE_KILLS[kill_point])
    started = await bot.rollout.start_execution(CHANNEL, STEP, "production", runner, fingerprint)
    result = await finish(clock, started.task)
    print(f"not killed: the step ended with {result.message}", flush=True)
    await bot.close()
    return 3


def arm_kill_on_world(world: World, after_changes: int) -> None:
    pending: list[object] = []
    arm_world_kill(after_changes, pending)
    for listener in pending:
        world.subscribe(listener)  # type: ignore[arg-type]


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[4] not in KILL_POINTS:
        print(f"usage: python -m tests.e2e.crash_driver URL WORLD META {{{','.join(KILL_POINTS)}}}")
        sys.exit(64)
    sys.exit(asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])))
