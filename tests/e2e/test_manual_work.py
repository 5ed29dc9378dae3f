"""Issue 15, "manual work is recorded as done by nobody": a manual action waits for the named
person's Done and value, on the virtual clock with the sim world, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.bootstrap import Bot, build
from bot.engine import manual
from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.executor import ExecutionResult
from bot.engine.records import ExecutionState, Run, StepState
from tests.e2e.databases import Databases
from tests.e2e.scenario import (
    CHANNEL,
    RUN_START,
    T0,
    approve_lane,
    dana,
    finish,
    lee,
    settings_for,
    start_and_pass_preflight,
)
from tests.e2e.world_file import WorldFile

STEP = "day3.1"


@dataclass
class Staged:
    bot: Bot
    clock: VirtualClock
    run: Run
    waiting: ExecutionResult


async def wait_in_staging(bot: Bot, clock: VirtualClock) -> tuple[Run, ExecutionResult]:
    run = await start_and_pass_preflight(bot)
    fingerprint, runner = await approve_lane(bot, STEP, "staging")
    started = await bot.rollout.start_execution(CHANNEL, STEP, "staging", runner, fingerprint)
    return run, await finish(clock, started.task)


@pytest.fixture
async def staged(databases: Databases) -> AsyncIterator[Staged]:
    clock = VirtualClock(T0)
    bot = await build(settings_for(databases.new()), clock=clock, run_start=RUN_START)
    try:
        run, waiting = await wait_in_staging(bot, clock)
        yield Staged(bot, clock, run, waiting)
    finally:
        await bot.close()


async def entries(bot: Bot, run: Run, index: int) -> list[manual.Entry]:
    lane = await bot.store.get_lane(run.id, STEP, "staging")
    assert lane is not None and lane.last_execution_id is not None
    records = await bot.store.targets(lane.last_execution_id)
    return manual.entries(next((r for r in records if r.action_index == index), None))


async def production_refusal(bot: Bot) -> str:
    with pytest.raises(Refused) as refused:
        await bot.rollout.request_run(CHANNEL, STEP, "production", lee)
    return refused.value.message


async def test_the_staging_benchmark_waits_for_the_members_done_and_says_for_whom(staged: Staged) -> None:
    lane = staged.waiting.lane
    assert lane.state is StepState.WAITING
    assert lane.reason is not None and "the Team member (member) to press Done on 'Run cache benchmark'" in lane.reason
    assert "/ion done day3.1 cache-benchmark" in lane.reason
    execution = await staged.bot.store.get_execution(staged.waiting.execution.id)
    assert execution is not None and execution.state is ExecutionState.WAITING
    assert await staged.bot.rollout.recover() == []  # a waiting execution is nobody's to reconcile


async def test_production_is_refused_while_the_staging_evidence_is_missing(staged: Staged) -> None:
    said = await production_refusal(staged.bot)
    assert said.startswith("day3.1 cannot run in production yet: its staging evidence for 'Run cache benchmark'")
    assert "is missing" in said and "/ion done day3.1 cache-benchmark 67%" in said


async def test_a_value_without_the_role_or_without_a_number_is_refused_and_nothing_is_recorded(
    staged: Staged,
) -> None:
    rollout = staged.bot.rollout
    with pytest.raises(Refused, match=r"is for the Team member \(member\); lee is not one"):
        await rollout.done(CHANNEL, STEP, "cache-benchmark", "70%", lee)
    with pytest.raises(Refused, match=r"asks for l1_hit_pct in %: /ion done day3.1 cache-benchmark 67%"):
        await rollout.done(CHANNEL, STEP, "cache-benchmark", None, dana)
    with pytest.raises(Refused, match=r"'512 MiB' is a size, but l1_hit_pct is a percentage in %"):
        await rollout.done(CHANNEL, STEP, "cache-benchmark", "512 MiB", dana)
    with pytest.raises(Refused, match=r"no manual action 7.*its manual actions are 1 \(cache-benchmark\), 2"):
        await rollout.done(CHANNEL, STEP, "7", "70%", dana)
    assert await entries(staged.bot, staged.run, 1) == []


async def test_a_failing_value_is_recorded_blocks_production_and_a_passing_one_carries_on(staged: Staged) -> None:
    bot, clock, rollout = staged.bot, staged.clock, staged.bot.rollout
    failing = await rollout.done(CHANNEL, STEP, "cache-benchmark", "60%", dana)
    assert failing.task is None and "'l1_hit_pct > 65' does not hold, so the lane does not proceed" in failing.message
    [entry] = await entries(bot, staged.run, 1)
    assert (entry.name, entry.text, entry.passed, entry.at) == ("dana", "60%", False, clock.now())
    lane = await bot.store.get_lane(staged.run.id, STEP, "staging")
    assert lane is not None and lane.state is StepState.WAITING
    said = await production_refusal(bot)
    assert "its staging evidence for 'Run cache benchmark' fails: dana entered 60%" in said
    again = await rollout.done(CHANNEL, STEP, "cache-benchmark", "60%", dana)  # the same value, redelivered
    assert again.recorded is None and len(await entries(bot, staged.run, 1)) == 1

    passing = await rollout.done(CHANNEL, STEP, "1", "67.5 %", dana)
    assert passing.task is not None
    memory = await finish(clock, passing.task)
    assert memory.lane.state is StepState.WAITING and "Memory verification" in (memory.lane.reason or "")
    redelivered = await rollout.done(CHANNEL, STEP, "cache-benchmark", "67.5%", dana)
    assert redelivered.recorded is None and "already recorded as done by dana" in redelivered.message
    assert [e.passed for e in await entries(bot, staged.run, 1)] == [False, True]

    last = await rollout.done(CHANNEL, STEP, "memory-check", "800 KB", dana)
    assert last.task is not None
    result = await finish(clock, last.task)
    assert result.ok and result.lane.state is StepState.DONE, result.message
    [memory_entry] = await entries(bot, staged.run, 2)
    assert (memory_entry.text, memory_entry.passed) == ("0.8 MB", True)
    audit = [e for e in await bot.store.audit(staged.run.id) if e.what.startswith("manual")]
    assert [(e.actor_name, e.what, e.after) for e in audit] == [
        ("dana", "manual value refused", "60%"),
        ("dana", "manual done", "67.5%"),
        ("dana", "manual done", "0.8 MB"),
    ]
    plan = await rollout.request_run(CHANNEL, STEP, "production", lee)  # the staging evidence passes now
    assert plan.environment == "production"


async def test_a_restart_mid_wait_keeps_the_wait_and_the_new_process_resumes_on_done(
    databases: Databases, tmp_path: Path
) -> None:
    url, world = databases.new(), WorldFile(tmp_path / "world.json")
    clock = VirtualClock(T0)
    first = await build(settings_for(url), clock=clock, run_start=RUN_START)
    try:
        assert first.sim is not None
        world.attach(first.sim.world)  # the cloud outlives the bot's process
        run, waiting = await wait_in_staging(first, clock)
        assert waiting.lane.state is StepState.WAITING
    finally:
        await first.close()
    second = await build(settings_for(url), clock=clock, run_start=RUN_START)
    try:
        assert second.sim is not None
        world.load_into(second.sim.world)
        assert await second.rollout.recover() == []
        lane = await second.store.get_lane(run.id, STEP, "staging")
        assert lane is not None and lane.state is StepState.WAITING
        benchmark = await second.rollout.done(CHANNEL, STEP, "cache-benchmark", "70%", dana)
        assert benchmark.task is not None
        assert (await finish(clock, benchmark.task)).lane.state is StepState.WAITING
        memory = await second.rollout.done(CHANNEL, STEP, "memory-check", "0.8 MB", dana)
        assert memory.task is not None
        result = await finish(clock, memory.task)
        assert result.lane.state is StepState.DONE, result.message
        execution = await second.store.get_execution(result.execution.id)
        assert execution is not None and execution.owner == second.rollout.owner
    finally:
        await second.close()


async def test_a_rollback_while_waiting_restores_staging_and_ends_the_wait(staged: Staged) -> None:
    bot = staged.bot
    undone = await bot.rollout.confirm_rollback(CHANNEL, f"{STEP}@staging", lee)
    assert undone.ok and undone.lane.state is StepState.ROLLED_BACK, undone.message
    execution = await bot.store.get_execution(staged.waiting.execution.id)
    assert execution is not None and execution.state is ExecutionState.INTERRUPTED
    with pytest.raises(Refused, match="Nobody is waited for on 'Run cache benchmark'"):
        await bot.rollout.done(CHANNEL, STEP, "cache-benchmark", "70%", dana)


async def test_two_deliveries_of_one_done_at_once_record_it_once_and_resume_once(staged: Staged) -> None:
    rollout = staged.bot.rollout
    first, second = await asyncio.gather(
        rollout.done(CHANNEL, STEP, "cache-benchmark", "70%", dana),
        rollout.done(CHANNEL, STEP, "cache-benchmark", "70%", dana),
        return_exceptions=True,
    )
    resumed = [o for o in (first, second) if isinstance(o, manual.DoneOutcome) and o.task is not None]
    assert len(resumed) == 1, (first, second)
    other = second if resumed[0] is first else first
    if isinstance(other, Refused):  # it lost the claim: said so, recorded nothing
        waiting = ("stopped waiting for 'Run cache benchmark'", "is no longer waiting for 'Run cache benchmark'")
        assert any(text in other.message for text in waiting), other.message
    else:
        assert isinstance(other, manual.DoneOutcome) and other.task is None and other.recorded is None
    assert [(e.text, e.passed) for e in await entries(staged.bot, staged.run, 1)] == [("70%", True)]
    assert resumed[0].task is not None
    assert (await finish(staged.clock, resumed[0].task)).lane.state is StepState.WAITING  # on to the memory check
