"""Driving the whole bot (bootstrap.build on the sim profile) the way the team would, through
the Rollout facade with the demo actors; shared by the e2e tests and the crash driver."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.bootstrap import Bot, build
from bot.config import Settings
from bot.engine import manual
from bot.engine.approvals import ANY_APPROVER
from bot.engine.clock import VirtualClock
from bot.engine.executor import ExecutionResult
from bot.engine.permissions import demo_actor
from bot.engine.ports import Actor, Event
from bot.engine.records import Run, StepState, TargetStatus
from bot.sim.world import World
from bot.simulate.measure import measured
from tests.e2e.world_file import WorldFile

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "runbooks" / "week17.yaml"
CHANNEL = "C_ION_ROLLOUT"
RUN_START = date(2026, 4, 20)  # a Monday: day 1 of week 17
T0 = datetime(2026, 4, 20, 14, 0, tzinfo=UTC)  # 09:00 in Chicago on day 1
PREFLIGHT = "preflight"
PRODUCTION_PROJECT = "ion-mentoring"

lee = demo_actor("lee")  # lead
sam = demo_actor("sam")  # sre_oncall
maria = demo_actor("maria")  # manager
dana = demo_actor("dana")  # member: runs staging benchmarks (day3.1's manual checks)
# The demo team has one lead and one on-call, so a production lane needing both (day2.1) cannot be
# approved with four eyes; a second lead, like a real team's, requests those runs.
lou = Actor(user_id="U_LEAD2", name="lou", roles=frozenset({"lead"}))
TEAM = (sam, lee, lou, maria)


def settings_for(database_url: str, *, dry_run: bool = False) -> Settings:
    return Settings(database_url=database_url, runbook=RUNBOOK, cloud="sim", dry_run=dry_run)


@dataclass
class Heard:
    """Every Event the bot emitted, in order (subscribed to the bot's EventBus)."""

    events: list[Event] = field(default_factory=list)

    async def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


def listen(bot: Bot) -> Heard:
    heard = Heard()
    bot.events.subscribe(heard)
    return heard


async def start_and_pass_preflight(bot: Bot) -> Run:
    """Start the run and decide the pre-flight Go/No-Go YES, as the team would on Monday morning."""
    rollout = bot.rollout
    run = await rollout.start_run(CHANNEL, RUN_START, lee)
    gate = bot.runbook.gate(PREFLIGHT)
    assert gate is not None
    for section in gate.sections:
        for item in section.items:
            await rollout.gate_tick(CHANNEL, gate.id, item.id, lee)
    view = await rollout.gate_check_health(CHANNEL, gate.id, sam)
    for result in view.record.health:
        if result.passed is not True:  # the synthetic noise may graze a threshold; a lead vouches
            await rollout.gate_override(CHANNEL, gate.id, result.label, "checked by hand on the dashboard", lee)
    await rollout.gate_decide(CHANNEL, gate.id, True, None, lee)
    return run


async def approve_lane(bot: Bot, step_id: str, env: str) -> tuple[str, Actor]:
    """Someone asks to run the lane and the others its rules need approve it: (fingerprint, requester)."""
    rollout = bot.rollout
    step = bot.runbook.step(step_id)
    assert step is not None
    rules = rollout.approval_needs(step, env)
    for runner in (sam, lee, lou):
        voters = _voters(rules, runner)
        if voters is not None:
            break
    else:
        raise AssertionError(f"nobody in the test team can approve {step_id} ({env})")
    plan = await rollout.request_run(CHANNEL, step_id, env, runner)
    for voter in voters:
        await rollout.approve(CHANNEL, step_id, env, voter)
    return plan.fingerprint, runner


def _voters(rules: list[Any], runner: Actor) -> list[Actor] | None:
    chosen: list[Actor] = []
    for rule in rules:
        fits = [a for a in TEAM if a != runner and a not in chosen and (rule.role == ANY_APPROVER or a.has(rule.role))]
        if len(fits) < rule.count:
            return None
        chosen += fits[: rule.count]
    return chosen


Tick = Callable[[], Awaitable[None]]


async def settle(clock: VirtualClock, tasks: Sequence[asyncio.Task[Any]], each_minute: Tick | None = None) -> None:
    """Run ``tasks`` to the end: a virtual minute passes whenever someone sleeps on the clock,
    otherwise the tasks are waiting on the database or the sim's HTTP app, and get real time."""
    for _ in range(10_000):
        pending = [t for t in tasks if not t.done()]
        if not pending:
            return
        if clock.sleepers:
            await clock.advance(timedelta(minutes=1))
            if each_minute is not None:
                await each_minute()
        else:
            await asyncio.wait(pending, timeout=0.05)
    raise AssertionError("the tasks did not finish; is something waiting for a person?")


async def finish(
    clock: VirtualClock, task: asyncio.Task[ExecutionResult], each_minute: Tick | None = None
) -> ExecutionResult:
    """Move virtual time a minute at a time until the execution (and its soak) is over."""
    await settle(clock, [task], each_minute)
    return task.result()


async def run_lane(
    bot: Bot, clock: VirtualClock, step_id: str, env: str, each_minute: Tick | None = None
) -> ExecutionResult:
    """Approve, run and finish the lane as the team would: Done on its manual work, its lists ticked."""
    fingerprint, runner = await approve_lane(bot, step_id, env)
    started = await bot.rollout.start_execution(CHANNEL, step_id, env, runner, fingerprint)
    return await complete(bot, clock, await finish(clock, started.task, each_minute), each_minute)


async def press_done(bot: Bot, result: ExecutionResult) -> asyncio.Task[ExecutionResult]:
    """The person a waiting lane names measures what it asks (as the simulated team does) and presses Done."""
    step = bot.runbook.step(result.lane.step_id)
    assert step is not None
    records = await bot.store.targets(result.execution.id)
    waiting = next(r for r in records if r.status is TargetStatus.SNAPSHOTTED and not r.mutating)
    item = next(i for i in manual.items(step) if i.index == waiting.action_index)
    value = await measured(bot.metrics, bot.runbook, step, item.spec, result.lane.environment, bot.clock.now())
    assert value is not None, f"cannot measure what '{item.title}' asks for"
    person = next(a for a in (*TEAM, dana) if item.spec.by is None or a.has(item.spec.by))
    outcome = await bot.rollout.done(CHANNEL, step.id, item.ref, value or None, person)
    assert outcome.task is not None, outcome.message
    return outcome.task


async def complete(
    bot: Bot, clock: VirtualClock, result: ExecutionResult, each_minute: Tick | None = None
) -> ExecutionResult:
    """A lane waiting for a person gets its Done; one verified and waiting for its lists gets them ticked."""
    while result.lane.state is StepState.WAITING:
        result = await finish(clock, await press_done(bot, result), each_minute)
    if result.lane.state is StepState.VERIFYING:
        await tick_checklist(bot, result.lane.step_id, lee, clock)
        lane = await bot.store.get_lane(result.lane.run_id, result.lane.step_id, result.lane.environment)
        assert lane is not None
        result = replace(result, lane=lane)
    return result


async def bot_on_world_file(url: str, world_path: Path) -> tuple[Bot, VirtualClock, World]:
    """A whole bot (sim profile) on ``url`` at T0 whose world is saved to ``world_path`` after every
    change, so another process (a restart, a second replica) can take it up."""
    clock = VirtualClock(T0)
    bot = await build(settings_for(url), clock=clock, run_start=RUN_START)
    assert bot.sim is not None
    WorldFile(world_path).attach(bot.sim.world)
    return bot, clock, bot.sim.world


async def staged(bot: Bot, clock: VirtualClock, step_id: str) -> tuple[Run, str | None]:
    """Start the run, pass pre-flight and run ``step_id`` on staging: (the run, None), or (the run,
    why staging did not finish)."""
    run = await start_and_pass_preflight(bot)
    staging = await run_lane(bot, clock, step_id, "staging")
    if staging.lane.state is not StepState.DONE:
        return run, f"{step_id} in staging did not finish: {staging.message}"
    return run, None


async def tick_checklist(bot: Bot, step_id: str, by: Actor = lee, clock: VirtualClock | None = None) -> None:
    """Every item of the step's lists that is due ticked; with ``clock``, a list whose change landed
    but whose time has not come is waited for (the clock moves to it) and ticked too."""
    step = bot.runbook.step(step_id)
    run = await bot.store.open_run(CHANNEL)
    assert step is not None and run is not None
    ticked = {t.item_id for t in await bot.store.ticks(run.id, step_id)}
    for group in step.checklist_groups():
        due = await bot.rollout.checklist_due(run, step, group)
        if group.after is not None and due.at is None:
            continue  # its change has not landed: not due
        if due.at is not None and due.at > clock_now(bot):
            if clock is None:
                continue
            await clock.advance_to(due.at)
        for item in group.items:
            if item.id not in ticked:
                await bot.rollout.tick(CHANNEL, step_id, item.id, by)


def clock_now(bot: Bot) -> datetime:
    return bot.clock.now()


def follow_production_steps(bot: Bot) -> list[tuple[str, datetime]]:
    """Tell the sim when a step's production lane finished, so faults written 'after <step>' start.

    bootstrap.build does not wire this (see test_triggers_end_to_end); the e2e tests do it here.
    """
    finished: list[tuple[str, datetime]] = []

    async def on_event(event: Event) -> None:
        if event.kind != "execution_finished" or not event.data.get("ok") or event.step_id is None:
            return
        execution = await bot.store.get_execution(str(event.data["execution_id"]))
        if execution is None or not bot.rollout.is_production(execution.environment):
            return
        assert bot.sim is not None
        at = bot.clock.now()
        bot.sim.metrics.note_step_done(event.step_id, at)  # type: ignore[attr-defined]
        finished.append((event.step_id, at))

    bot.events.subscribe(on_event)
    return finished
