"""Replica A, a process of its own: ``python -m tests.e2e.replica_driver URL WORLD META GO DONE``.

It builds the whole bot (sim profile) on the database at URL with the world persisted at WORLD,
passes the pre-flight gate, runs day3.1 in staging, then starts it in production (three regions)
and moves its virtual clock a minute at a time until the production lane is soaking in its
30-minute verification window. It writes META (run, execution, the services before, its clock)
and waits, in real time, for the file GO: the test has rolled the lane back from another
process meanwhile. Then it moves its clock on, a minute at a time, until its executor has
stopped or two leases have passed, and writes what its executor said to DONE.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.bootstrap import Bot
from bot.engine.clock import VirtualClock
from bot.engine.records import StepState
from tests.e2e.scenario import (
    CHANNEL,
    PRODUCTION_PROJECT,
    approve_lane,
    bot_on_world_file,
    staged,
    tick_checklist,
)
from tests.e2e.world_file import project_services

STEP = "day3.1"
SOAK_WAIT_MINUTES = 20  # the applies land within a minute or two; the window is 30 minutes
GO_TIMEOUT_SECONDS = 120.0
SETTLE_SECONDS = 5.0  # returns at once when the executor stops; only a live one waits this long


async def _write(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    await asyncio.to_thread(temporary.write_text, json.dumps(data, sort_keys=True), encoding="utf-8")
    temporary.replace(path)  # whole or absent: the test never reads half a file


async def _tick(clock: VirtualClock, task: asyncio.Task[Any]) -> int:
    """A virtual minute when someone sleeps on the clock (1), else real time for the database (0)."""
    if clock.sleepers:
        await clock.advance(timedelta(minutes=1))
        return 1
    await asyncio.wait([task], timeout=0.05)
    return 0


async def _minute_then_settle(clock: VirtualClock, task: asyncio.Task[Any]) -> int:
    """A virtual minute, then real time (bounded) for what it set off: a heartbeat is a database
    round trip, and moving on before it returns would outrun the executor on a loaded machine."""
    moved = 0
    if clock.sleepers:
        await clock.advance(timedelta(minutes=1))
        moved = 1
    await asyncio.wait([task], timeout=SETTLE_SECONDS)
    return moved


async def _soaking(bot: Bot, run_id: str) -> bool:
    lane = await bot.store.get_lane(run_id, STEP, "production")
    return lane is not None and lane.state is StepState.VERIFYING


async def main(url: str, world_path: Path, meta_path: Path, go_path: Path, done_path: Path) -> int:
    bot, clock, world = await bot_on_world_file(url, world_path)
    try:
        run, not_staged = await staged(bot, clock, STEP)
        if not_staged:
            print(not_staged, flush=True)
            return 2
        await tick_checklist(bot, STEP)  # so that, left alone, the lane would end done
        fingerprint, runner = await approve_lane(bot, STEP, "production")
        before = project_services(world, PRODUCTION_PROJECT)
        started = await bot.rollout.start_execution(CHANNEL, STEP, "production", runner, fingerprint)
        moved = 0
        while not await _soaking(bot, run.id):
            if moved >= SOAK_WAIT_MINUTES or started.task.done():
                print("day3.1 in production never reached its verification window", flush=True)
                return 2
            moved += await _tick(clock, started.task)
        assert not started.task.done(), "the executor should be soaking"
        meta = {
            "run_id": run.id,
            "execution_id": started.execution.id,
            "owner": bot.rollout.owner,
            "before": before,
            "at": clock.now().isoformat(),
        }
        await _write(meta_path, meta)
        deadline = time.monotonic() + GO_TIMEOUT_SECONDS
        while not await asyncio.to_thread(go_path.exists):
            if time.monotonic() > deadline:
                print("the test never said GO", flush=True)
                return 2
            await asyncio.sleep(0.05)
        moved = 0
        while not started.task.done() and moved < 2 * bot.rollout.lease / timedelta(minutes=1):
            moved += await _minute_then_settle(clock, started.task)
        if not started.task.done():
            print(f"the executor was still running {moved} minutes after the rollback", flush=True)
            return 2
        result = started.task.result()
        lane = await bot.store.get_lane(run.id, STEP, "production")
        await _write(
            done_path,
            {
                "ok": result.ok,
                "message": result.message,
                "minutes_after_go": moved,
                "lane_seen": lane.state.value if lane is not None else None,
            },
        )
        return 0
    finally:
        await bot.close()


if __name__ == "__main__":
    if len(sys.argv) != 6:
        print("usage: python -m tests.e2e.replica_driver URL WORLD META GO DONE")
        sys.exit(64)
    paths = [Path(p) for p in sys.argv[2:]]
    sys.exit(asyncio.run(main(sys.argv[1], *paths)))
