"""A whole bot (bootstrap.build, sim profile, SQLite file, virtual clock) with a recording poster,
driven through the Rollout facade by the demo team, the way the team would on Monday 2026-11-02."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bot.bootstrap import Bot, build
from bot.config import Settings
from bot.engine import approvals
from bot.engine.clock import VirtualClock
from bot.engine.executor import ExecutionResult
from bot.engine.permissions import demo_actor
from bot.engine.ports import Actor, MetricsSource
from bot.engine.records import Run, StepState
from bot.runtime import Runtime

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "runbooks" / "week17.yaml"
CHANNEL = "C_ION_ROLLOUT"
CHICAGO = ZoneInfo("America/Chicago")
MONDAY = date(2026, 11, 2)  # Day 1; US clocks went back on Sunday, so Chicago is UTC-6

lee = demo_actor("lee")  # lead
sam = demo_actor("sam")  # sre_oncall
maria = demo_actor("maria")  # manager
lou = Actor(user_id="U_LEAD2", name="lou", roles=frozenset({"lead"}))  # a second lead, for four eyes


def chicago(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHICAGO)


@dataclass
class Post:
    channel: str
    text: str
    blocks: list[dict[str, Any]] | None
    dedupe_key: str
    at: datetime


@dataclass
class Upload:
    channel: str
    filename: str
    content: bytes
    title: str
    at: datetime


@dataclass
class RecordingPoster:
    """A fake ReportPoster: keeps every post and upload; a repeated dedupe key is dropped, like the outbox."""

    clock: VirtualClock
    posts: list[Post] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None, dedupe_key: str) -> None:
        if dedupe_key in self.keys:
            return
        self.keys.add(dedupe_key)
        self.posts.append(Post(channel, text, blocks, dedupe_key, self.clock.now()))

    async def upload(self, channel: str, filename: str, content: bytes, title: str) -> str:
        self.uploads.append(Upload(channel, filename, content, title, self.clock.now()))
        return f"/tmp/ionbot-files/{filename}"

    async def reply(self, channel: str, dedupe_key: str, text: str) -> None:
        """A note in a report's thread: recorded as a post keyed ``reply:<report key>``."""
        self.posts.append(Post(channel, text, None, f"reply:{dedupe_key}", self.clock.now()))

    def keyed(self, prefix: str) -> list[Post]:
        return [p for p in self.posts if p.dedupe_key.startswith(prefix)]


async def build_bot(database: Path, clock: VirtualClock) -> Bot:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database}", runbook=RUNBOOK, cloud="sim")
    return await build(settings, clock=clock, run_start=MONDAY)


async def start_and_pass_preflight(bot: Bot) -> Run:
    """Start the run on Monday and decide the pre-flight Go/No-Go YES."""
    rollout = bot.rollout
    run = await rollout.start_run(CHANNEL, MONDAY, lee)
    gate = bot.runbook.gate("preflight")
    assert gate is not None
    for section in gate.sections:
        for item in section.items:
            await rollout.gate_tick(CHANNEL, gate.id, item.id, lee)
    view = await rollout.gate_check_health(CHANNEL, gate.id, sam)
    for result in view.record.health:
        if result.passed is not True:  # synthetic noise may graze a threshold; a lead vouches
            await rollout.gate_override(CHANNEL, gate.id, result.label, "checked by hand on the dashboard", lee)
    await rollout.gate_decide(CHANNEL, gate.id, True, None, lee)
    return run


TEAM = (sam, lee, lou, maria)


def runner_and_voters(bot: Bot, step_id: str, env: str) -> tuple[Actor, tuple[Actor, ...]]:
    """Someone allowed to run the lane and the others its approval rules need (never the runner)."""
    step = bot.runbook.step(step_id)
    assert step is not None
    rules = bot.rollout.approval_needs(step, env)
    for runner in (sam, lee, lou):
        chosen: list[Actor] = []
        for rule in rules:
            fits = [
                a
                for a in TEAM
                if a != runner and a not in chosen and (rule.role == approvals.ANY_APPROVER or a.has(rule.role))
            ]
            if len(fits) < rule.count:
                break
            chosen += fits[: rule.count]
        else:
            return runner, tuple(chosen)
    raise AssertionError(f"nobody in the test team can approve {step_id} ({env})")


async def start_lane(bot: Bot, step_id: str, env: str) -> tuple[Actor, asyncio.Task[ExecutionResult]]:
    """Request, approve and confirm a lane; returns the runner and the task finishing the execution."""
    runner, voters = runner_and_voters(bot, step_id, env)
    plan = await bot.rollout.request_run(CHANNEL, step_id, env, runner)
    for voter in voters:
        await bot.rollout.approve(CHANNEL, step_id, env, voter)
    started = await bot.rollout.start_execution(CHANNEL, step_id, env, runner, plan.fingerprint)
    return runner, started.task


async def finish(clock: VirtualClock, task: asyncio.Task[T]) -> T:
    """Let the task do its I/O; when it sleeps on the virtual clock, move the clock a minute."""
    for _ in range(6 * 60):
        if not task.done() and clock.sleepers == 0:
            await asyncio.wait({task}, timeout=0.5)  # database and HTTP work, not waiting on time
        if task.done():
            return task.result()
        if clock.sleepers:
            await clock.advance(timedelta(minutes=1))
    raise AssertionError("the execution did not finish within six virtual hours")


async def done_all(bot: Bot, clock: VirtualClock, result: ExecutionResult, actor: Actor) -> ExecutionResult:
    """Press Done (no value) on every manual action the lane stops at, and finish it again each time."""
    while result.lane.state is StepState.WAITING:
        ref = (result.lane.reason or "").rsplit(" ", 1)[-1]
        outcome = await bot.rollout.done(CHANNEL, result.lane.step_id, ref, None, actor)
        assert outcome.task is not None, outcome.message
        result = await finish(clock, outcome.task)
    return result


async def tick_all(bot: Bot, step_id: str, actor: Actor) -> None:
    """Tick every list whose change has landed, moving the clock to a list's due time when it is later."""
    step = bot.runbook.step(step_id)
    run = await bot.store.open_run(CHANNEL)
    assert step is not None and run is not None
    ticked = {t.item_id for t in await bot.store.ticks(run.id, step_id)}
    for group in step.checklist_groups():
        due = await bot.rollout.checklist_due(run, step, group)
        if group.after is not None and due.at is None:
            continue  # its change has not landed: not due
        if due.at is not None and due.at > bot.clock.now():
            assert isinstance(bot.clock, VirtualClock)
            await bot.clock.advance_to(due.at)
        for item in group.items:
            if item.id not in ticked:
                await bot.rollout.tick(CHANNEL, step_id, item.id, actor)
    await asyncio.sleep(0)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


@dataclass
class Team:
    """A bot on a virtual clock with its run started and the preflight passed, posting to a recorder."""

    bot: Bot
    clock: VirtualClock
    poster: RecordingPoster
    runtime: Runtime
    run: Run


@asynccontextmanager
async def team_at(
    database: Path,
    hour: int,
    watch_every: timedelta,
    *,
    started: bool = False,
    metrics: MetricsSource | None = None,
) -> AsyncIterator[Team]:
    """The team on Monday at ``hour`` (Chicago); ``started`` runs the Runtime's scheduler too, and
    ``metrics`` replaces what the reports read (the checker and the watcher keep the sim's)."""
    clock = VirtualClock(utc(chicago(MONDAY, hour)))
    bot = await build_bot(database, clock)
    if metrics is not None:
        bot.metrics = metrics
    poster = RecordingPoster(clock)
    runtime = Runtime(bot, poster, watch_every=watch_every)
    try:
        if started:
            await runtime.start()
        yield Team(bot, clock, poster, runtime, await start_and_pass_preflight(bot))
    finally:
        if started:
            await runtime.stop()
        await bot.close()
