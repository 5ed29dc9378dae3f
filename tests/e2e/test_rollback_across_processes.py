"""On-call rolls a step back on one replica while another process, replica A, is still soaking it:
the rollback takes the lane and restores every region; A's executor, which no in-memory signal can
reach, stops at its next heartbeat and writes nothing after. Two real processes, one database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.bootstrap import build
from bot.engine.clock import VirtualClock
from bot.engine.records import ExecutionState, StepState
from tests.e2e.databases import Databases
from tests.e2e.replica_driver import STEP
from tests.e2e.scenario import CHANNEL, PRODUCTION_PROJECT, ROOT, RUN_START, sam, settings_for
from tests.e2e.world_file import WorldFile, project_services

REGIONS = ("us-central1", "europe-west1", "asia-southeast1")


async def _wait_for(path: Path, replica: subprocess.Popen[str], timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(path.exists):
        if replica.poll() is not None:
            raise AssertionError(f"replica A ended early ({replica.returncode}):\n{replica.communicate()[0]}")
        assert time.monotonic() < deadline, f"replica A wrote no {path.name} within {timeout:.0f} s"
        await asyncio.sleep(0.05)
    loaded: dict[str, Any] = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    return loaded


async def test_a_rollback_on_one_replica_stops_the_executor_soaking_on_another_process(
    databases: Databases, tmp_path: Path
) -> None:
    url = databases.new()
    files = {name: tmp_path / f"{name}.json" for name in ("world", "meta", "go", "done")}
    command = [sys.executable, "-m", "tests.e2e.replica_driver", url, *(str(files[n]) for n in files)]
    replica_a = subprocess.Popen(  # noqa: ASYNC220 (a plain Popen: the test polls it between awaits)
        command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        meta = await _wait_for(files["meta"], replica_a)
        world_file = WorldFile(files["world"])
        applied = Counter(c["region"] for c in world_file.read_changes() if c["project"] == PRODUCTION_PROJECT)
        assert applied == {region: 1 for region in REGIONS}  # A applied every region, once

        clock = VirtualClock(datetime.fromisoformat(meta["at"]))
        replica_b = await build(settings_for(url), clock=clock, run_start=RUN_START)
        try:
            assert replica_b.sim is not None
            world_file.attach(replica_b.sim.world)
            assert replica_b.rollout.owner != meta["owner"]
            result = await replica_b.rollout.confirm_rollback(CHANNEL, f"{STEP}@production", sam)

            assert result.ok and result.lane.state is StepState.ROLLED_BACK, result.message
            assert project_services(replica_b.sim.world, PRODUCTION_PROJECT) == meta["before"]
            taken = await replica_b.store.get_execution(meta["execution_id"])
            assert taken is not None and taken.state is ExecutionState.INTERRUPTED
            assert taken.message.startswith(f"stopped by the rollback of {STEP} (production)")
            files["go"].write_text("{}", encoding="utf-8")

            done = await _wait_for(files["done"], replica_a)
            output, _ = replica_a.communicate(timeout=60)
            assert replica_a.returncode == 0, output
            assert (
                not done["ok"] and "a rollback took the lane over, so nothing more was changed here" in done["message"]
            )
            assert done["minutes_after_go"] <= replica_b.rollout.lease.total_seconds() / 60 + 1
            assert done["lane_seen"] == StepState.ROLLED_BACK.value

            # A wrote nothing after: the lane is B's, the services are the snapshots, A's execution
            # ended as B recorded it, and each region changed twice (A's apply, B's restore)
            lane = await replica_b.store.get_lane(meta["run_id"], STEP, "production")
            assert lane is not None and lane.state is StepState.ROLLED_BACK
            after = await replica_b.store.get_execution(meta["execution_id"])
            assert after is not None and after.state is ExecutionState.INTERRUPTED and after.message == taken.message
            changes = [c for c in world_file.read_changes() if c["project"] == PRODUCTION_PROJECT]
            assert Counter(c["region"] for c in changes) == {region: 2 for region in REGIONS}
            assert {c["pid"] for c in changes[3:]} == {os.getpid()}  # the restores are B's
            audit = [e.what for e in await replica_b.store.audit(meta["run_id"])]
            assert "execution stopped" in audit
        finally:
            await replica_b.close()
    finally:
        if replica_a.poll() is None:
            replica_a.kill()
            replica_a.communicate()
