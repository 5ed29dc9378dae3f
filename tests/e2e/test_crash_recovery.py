"""Issue 3: a real bot process is killed mid-step, or mid-rollback; a restarted bot reconciles,
never applies or restores twice, and a rollback restores every touched service exactly to its
pre-step snapshot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from bot.bootstrap import Bot, build
from bot.engine.clock import VirtualClock
from bot.engine.records import ExecutionState, StepState, TargetStatus
from bot.sim.world import World
from tests.e2e.crash_driver import APPLY_KILL_POINTS, KILL_POINTS, KILLED, ROLLBACK_KILLS, STEP
from tests.e2e.databases import Databases
from tests.e2e.scenario import CHANNEL, PRODUCTION_PROJECT, ROOT, RUN_START, T0, Heard, listen, sam, settings_for
from tests.e2e.world_file import WorldFile, project_services

SERVICE = "ion-mentoring-api"
REGIONS = ("us-central1", "europe-west1", "asia-southeast1")
NEW_ENV = {"CACHE_MAX_ITEMS": "1500", "CACHE_TTL": "45"}


@dataclass(frozen=True)
class Expected:
    applied: tuple[str, ...]  # regions whose change landed before the kill
    statuses: dict[str, TargetStatus]  # region -> target status after recovery


EXPECTED = {
    "before-first-apply": Expected((), {"us-central1": TargetStatus.INTERRUPTED}),
    "between-targets": Expected(("us-central1",), {"us-central1": TargetStatus.APPLIED}),
    "after-second-apply": Expected(
        ("us-central1", "europe-west1"),
        {"us-central1": TargetStatus.APPLIED, "europe-west1": TargetStatus.APPLIED},
    ),
}


@dataclass(frozen=True)
class Crash:
    url: str
    world: WorldFile
    meta: dict[str, Any]
    returncode: int
    output: str


@pytest.fixture(scope="module")
def crashes(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Crash]]:
    """One killed bot process per kill point, all started at once (each on its own database)."""
    folder = tmp_path_factory.mktemp(f"crash-{databases.backend}")
    launched = []
    for point in KILL_POINTS:
        url = databases.new()
        paths = (folder / f"{point}.world.json", folder / f"{point}.meta.json")
        command = [sys.executable, "-m", "tests.e2e.crash_driver", url, str(paths[0]), str(paths[1]), point]
        process = subprocess.Popen(
            command, cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        launched.append((point, url, paths, process))
    found: dict[str, Crash] = {}
    for point, url, (world, meta), process in launched:
        output, _ = process.communicate(timeout=120)
        written = json.loads(meta.read_text()) if meta.exists() else {}
        found[point] = Crash(url, WorldFile(world), written, process.returncode, output)
    yield found


@asynccontextmanager
async def restarted(crash: Crash) -> AsyncIterator[tuple[Bot, World, Heard]]:
    """A new bot process on the killed one's database and world, two hours later."""
    clock = VirtualClock(T0 + timedelta(hours=2))
    bot = await build(settings_for(crash.url), clock=clock, run_start=RUN_START)
    try:
        assert bot.sim is not None
        crash.world.attach(bot.sim.world)
        yield bot, bot.sim.world, listen(bot)
    finally:
        await bot.close()


def production_changes(changes: list[dict[str, Any]]) -> list[str]:
    return [c["region"] for c in changes if c["project"] == PRODUCTION_PROJECT]


@pytest.mark.parametrize("kill_point", APPLY_KILL_POINTS)
async def test_a_killed_step_is_reconciled_never_reapplied_and_rolls_back_exactly(
    crashes: dict[str, Crash], kill_point: str
) -> None:
    crash, expected = crashes[kill_point], EXPECTED[kill_point]
    assert crash.returncode == KILLED, f"the driver was not killed at {kill_point}:\n{crash.output}"
    assert crash.output.startswith("killed after")
    at_crash = crash.world.read_changes()
    assert production_changes(at_crash) == list(expected.applied)  # each landed change heard once

    async with restarted(crash) as (bot, world, heard):
        recovered = await bot.rollout.recover()

        # reconciled: one execution, interrupted, each written-ahead target marked by what landed
        assert len(recovered) == 1
        found = recovered[0]
        assert (found.applied, found.total) == (len(expected.applied), 3)
        execution = await bot.store.get_execution(found.execution.id)
        assert execution is not None and execution.state is ExecutionState.INTERRUPTED
        assert execution.message == f"interrupted by a restart; {len(expected.applied)} of 3 targets applied"
        records = await bot.store.targets(execution.id)
        assert {r.target_key.split("/")[1]: r.status for r in records} == expected.statuses
        for record in records:
            assert record.snapshot == {"env CACHE_MAX_ITEMS": "1000", "env CACHE_TTL": "60"}
        lane = await bot.store.get_lane(crash.meta["run_id"], STEP, "production")
        assert lane is not None and lane.state is StepState.FAILED
        [event] = heard.of("recovered")
        assert event.step_id == STEP and event.data["execution_id"] == execution.id
        assert f"{len(expected.applied)} of 3 targets applied" in event.text
        assert "Nothing was applied again" in event.text
        assert any(e.what == "recovered" for e in await bot.store.audit(crash.meta["run_id"]))

        # nothing applied twice: recovery changed nothing, the world is as the kill left it
        assert crash.world.read_changes() == at_crash
        live = project_services(world, PRODUCTION_PROJECT)
        for region in REGIONS:
            key = f"{SERVICE}/{region}"
            wanted = {**crash.meta["before"][key]["env"], **NEW_ENV} if region in expected.applied else None
            assert live[key]["env"] == (wanted or crash.meta["before"][key]["env"])

        # the rollback restores every service exactly, touching only what had changed
        result = await bot.rollout.confirm_rollback(CHANNEL, f"{STEP}@production", sam)
        assert result.ok and result.lane.state is StepState.ROLLED_BACK
        assert project_services(world, PRODUCTION_PROJECT) == crash.meta["before"]
        reverts = production_changes(crash.world.read_changes()[len(at_crash) :])
        assert sorted(reverts) == sorted(expected.applied)
        per_target = Counter(production_changes(crash.world.read_changes()))
        assert all(count == 2 for count in per_target.values())  # applied once, reverted once


@pytest.mark.parametrize("kill_point", ROLLBACK_KILLS)
async def test_a_killed_rollback_is_reconciled_and_the_next_one_restores_only_what_is_left(
    crashes: dict[str, Crash], kill_point: str
) -> None:
    crash = crashes[kill_point]
    assert crash.returncode == KILLED, f"the driver was not killed at {kill_point}:\n{crash.output}"
    at_crash = crash.world.read_changes()
    # applied in order, then restored newest first: the kill came after the first restore landed
    assert production_changes(at_crash) == [*REGIONS, "asia-southeast1"]

    async with restarted(crash) as (bot, world, heard):
        [found] = await bot.rollout.recover()

        assert found.execution.kind == "rollback"
        execution = await bot.store.get_execution(found.execution.id)
        assert execution is not None and execution.state is ExecutionState.INTERRUPTED
        assert execution.message == "rollback interrupted by a restart; 1 of 3 targets reverted"
        [record] = await bot.store.targets(execution.id)
        assert (record.target_key, record.status) == (f"{SERVICE}/asia-southeast1", TargetStatus.REVERTED)
        lane = await bot.store.get_lane(crash.meta["run_id"], STEP, "production")
        assert lane is not None and lane.state is StepState.FAILED
        [event] = heard.of("recovered")
        assert "1 of 3 targets reverted" in event.text and "Nothing was applied again" in event.text
        assert crash.world.read_changes() == at_crash  # recovery wrote nothing

        preview = await bot.rollout.rollback_preview(CHANNEL, f"{STEP}@production", sam)
        assert sorted(t.target_key for t in preview.targets) == [f"{SERVICE}/europe-west1", f"{SERVICE}/us-central1"]
        result = await bot.rollout.confirm_rollback(CHANNEL, f"{STEP}@production", sam)

        assert result.ok and result.lane.state is StepState.ROLLED_BACK, result.message
        assert project_services(world, PRODUCTION_PROJECT) == crash.meta["before"]
        per_target = Counter(production_changes(crash.world.read_changes()))
        assert per_target == {region: 2 for region in REGIONS}  # applied once, restored once
