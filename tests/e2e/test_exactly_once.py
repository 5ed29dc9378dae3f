"""Issue 3, exactly once at the facade: of 50 concurrent confirmations of one lane, through two bot
replicas on one real database, exactly one execution runs; two concurrent rollbacks revert once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import Bot, build
from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.records import StepState
from bot.engine.rollout import StartedExecution
from tests.e2e.databases import Databases
from tests.e2e.scenario import (
    CHANNEL,
    RUN_START,
    T0,
    approve_lane,
    complete,
    finish,
    sam,
    settings_for,
    settle,
    start_and_pass_preflight,
)
from tests.e2e.world_file import WorldFile

STEP, ENV = "day3.1", "staging"
STAGING_PROJECT = "ion-mentoring-staging"
CALLS = 50


@dataclass
class Replicas:
    """Two bots on one database, each with its own engine, connection pool and (sim) cloud."""

    a: Bot
    b: Bot
    clock: VirtualClock
    worlds: tuple[WorldFile, WorldFile]
    run_id: str

    def staging_changes(self) -> list[dict[str, Any]]:
        return [c for w in self.worlds for c in w.read_changes() if c["project"] == STAGING_PROJECT]

    async def settle(self, tasks: list[asyncio.Task[Any]]) -> list[Any]:
        """Move virtual time until every task (and the winner's 30-minute soak) is over."""
        await settle(self.clock, tasks)
        return [t.exception() or t.result() for t in tasks]


@asynccontextmanager
async def two_replicas(url: str, folder: Path) -> AsyncIterator[Replicas]:
    """Two bots built on ``url`` sharing one virtual clock, with the run started and pre-flight passed."""
    clock = VirtualClock(T0)
    a = await build(settings_for(url), clock=clock, run_start=RUN_START)
    b = await build(settings_for(url), clock=clock, run_start=RUN_START)
    try:
        worlds = (WorldFile(folder / "a.json"), WorldFile(folder / "b.json"))
        for bot, world in zip((a, b), worlds, strict=True):
            assert bot.sim is not None
            world.attach(bot.sim.world)
        run = await start_and_pass_preflight(a)
        yield Replicas(a, b, clock, worlds, run.id)
    finally:
        await a.close()
        await b.close()


@pytest.fixture
async def replicas(databases: Databases, tmp_path: Path) -> AsyncIterator[Replicas]:
    async with two_replicas(databases.new(), tmp_path) as both:
        yield both


async def test_fifty_concurrent_confirmations_run_the_lane_exactly_once(replicas: Replicas) -> None:
    fingerprint, runner = await approve_lane(replicas.a, STEP, ENV)
    calls = []
    for i in range(CALLS):
        rollout = (replicas.a if i % 2 else replicas.b).rollout
        call = rollout.start_execution if i % 4 < 2 else rollout.confirm_run
        calls.append(asyncio.create_task(call(CHANNEL, STEP, ENV, runner, fingerprint)))
    outcomes = await replicas.settle(calls)

    refused = [o for o in outcomes if isinstance(o, Refused)]
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(won) == 1 and len(refused) == CALLS - 1, [o for o in outcomes if isinstance(o, Exception)]
    for refusal in refused:
        assert refusal.message.startswith(f"{STEP} ({ENV}) ")
        assert refusal.message.endswith("Nothing was changed.") or refusal.message.endswith("Nothing was run.")
    winner = won[0]
    if isinstance(winner, StartedExecution):  # its execution may still be soaking
        winner = await finish(replicas.clock, winner.task)
    # The benchmark's Done, by a person measuring the world the winning replica changed.
    ran_on = replicas.a if winner.execution.owner == replicas.a.rollout.owner else replicas.b
    winner = await complete(ran_on, replicas.clock, winner)
    assert winner.ok, winner.message

    executions = [e for e in await replicas.a.store.executions(replicas.run_id) if e.step_id == STEP]
    assert [(e.kind, e.environment) for e in executions] == [("apply", ENV)]
    lane = await replicas.a.store.get_lane(replicas.run_id, STEP, ENV)
    assert lane is not None and lane.state is StepState.DONE and lane.last_execution_id == executions[0].id
    assert [(c["region"], c["service"]["env"]["CACHE_MAX_ITEMS"]) for c in replicas.staging_changes()] == [
        ("us-central1", "1500")
    ]
    claims = [
        e
        for e in await replicas.a.store.audit(replicas.run_id)
        if e.what == "step state" and e.after == "running" and e.before != "waiting"  # not a Done's resume
    ]
    assert len(claims) == 1


async def test_a_rollback_confirmed_twice_at_once_reverts_once(replicas: Replicas) -> None:
    fingerprint, runner = await approve_lane(replicas.a, STEP, ENV)
    ran = await replicas.settle(
        [asyncio.create_task(replicas.a.rollout.confirm_run(CHANNEL, STEP, ENV, runner, fingerprint))]
    )
    assert ran[0].ok, ran[0]
    rollout = replicas.a.rollout
    both = await asyncio.gather(
        rollout.confirm_rollback(CHANNEL, f"{STEP}@{ENV}", sam),
        rollout.confirm_rollback(CHANNEL, f"{STEP}@{ENV}", sam),
        return_exceptions=True,
    )
    assert not [r for r in both if isinstance(r, BaseException) and not isinstance(r, Refused)], both
    rollbacks = [e for e in await replicas.a.store.executions(replicas.run_id) if e.kind == "rollback"]
    assert len(rollbacks) == 1
    lane = await replicas.a.store.get_lane(replicas.run_id, STEP, ENV)
    assert lane is not None and lane.state is StepState.ROLLED_BACK
    envs = [c["service"]["env"]["CACHE_MAX_ITEMS"] for c in replicas.staging_changes()]
    assert envs == ["1500", "1000"]  # applied once, reverted once
