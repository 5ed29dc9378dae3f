"""Moving virtual time in the console: sleepers wake and scheduled jobs fire at their own times, in order.

``advance 2h`` must behave like two real hours: an executor waiting out a verification window
wakes at its deadline, the watcher polls every ``watch_interval``, the 17:00 report posts at
17:00. ``JobDriver`` walks the clock from event to event (the next sleeper deadline or the next
fire time of a job from ``bot.scheduler.build_jobs``) and lets the bot's tasks finish their work
(``settle``) before time moves on, so a run is the same on every machine.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.interval import IntervalTrigger

from bot.console.ports import ConsoleBot
from bot.engine.clock import VirtualClock
from bot.engine.ports import Event
from bot.scheduler import FireResult, JobSpec, ReportScheduler, ScheduleCallbacks, fire_times

Settle = Callable[[], Awaitable[None]]
FREE_TURNS = 4  # loop turns a busy settle takes before it waits a millisecond for I/O


class SteppedClock(VirtualClock):
    """A VirtualClock that also says when its earliest sleeper is due, so time can jump there."""

    def pending(self) -> set[asyncio.Future[None]]:
        """The futures of sleeps still waiting (a task awaiting one of them is idle until time moves)."""
        return {future for _, _, future in self._sleepers if not future.done()}

    def next_deadline(self) -> datetime | None:
        live = [deadline for deadline, _, future in self._sleepers if not future.done()]
        return min(live) if live else None


class NoScheduler:
    """Stands in for APScheduler: the driver, not a timer, decides when each job fires."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}

    def add_job(self, func: Any, **kwargs: Any) -> None:
        self.jobs[str(kwargs.get("id"))] = kwargs

    def get_job(self, job_id: str) -> object | None:
        return self.jobs.get(job_id)

    def remove_job(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)


@dataclass(frozen=True)
class Due:
    at: datetime
    run_id: str
    job: JobSpec


@dataclass(frozen=True)
class Fired:
    """A job that ran: when, which, and what the scheduler made of it (posted, or why not)."""

    due: Due
    result: FireResult


OnFired = Callable[[Fired], Awaitable[None]]


class JobDriver:
    """Fires each open run's jobs as the virtual clock passes their times.

    ``watch_every`` thins the trigger watch (1 = every ``watch_interval``); triggers judge a
    whole series window, so a coarser poll still sees a breach that lasted its duration.
    """

    def __init__(
        self,
        bot: ConsoleBot,
        clock: SteppedClock,
        callbacks: ScheduleCallbacks,
        settle: Settle,
        *,
        watch_every: int = 1,
        watch_hours: tuple[time, time] | None = None,
        close_watch: Callable[[datetime], bool] | None = None,
        on_fired: OnFired | None = None,
    ) -> None:
        self.bot = bot
        self.clock = clock
        self.settle = settle
        self.watch_every = max(1, watch_every)
        self.watch_hours = watch_hours
        self.close_watch = close_watch
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)
        self.scheduler = ReportScheduler(NoScheduler(), callbacks, bot.store, clock)
        self.fired: list[Fired] = []
        self.on_fired = on_fired
        # Runs open only with run_started and close only with an event (step_changed), so the
        # store is asked again only after some event, not after every batch of watch polls.
        self._runs_stale = True
        bot.events.subscribe(self._note_event)

    async def _note_event(self, event: Event) -> None:
        self._runs_stale = True

    async def sync_runs(self) -> None:
        """Schedule the jobs of runs started since the last call (and drop finished ones)."""
        self._runs_stale = False
        open_runs = {run.id: run for run in await self.bot.store.open_runs()}
        for run_id in list(self.scheduler.runs):
            if run_id not in open_runs:
                self.scheduler.remove_run(run_id)
        for run in open_runs.values():
            if run.id not in self.scheduler.runs:
                self.scheduler.add_run(run.id, self.bot.runbook, run.start_date)

    def _fire_times(self, start: datetime, end: datetime) -> dict[tuple[str, str], list[datetime]]:
        """Every fire time in (start, end] of every scheduled job, worked out once per ``advance_to``."""
        after = start + timedelta(microseconds=1)
        return {
            (run.run_id, key): fire_times(spec.trigger, after, end)
            for run in self.scheduler.runs.values()
            for key, spec in run.jobs.items()
        }

    def _next_batch(self, times: dict[tuple[str, str], list[datetime]], now: datetime, end: datetime) -> list[Due]:
        """The earliest jobs due in (now, end], all at one time; the watch filter is asked afresh each time
        (a fault's window becomes known only when its step finishes)."""
        found: list[Due] = []
        for run in self.scheduler.runs.values():
            for key, spec in run.jobs.items():
                known = times.get((run.run_id, key))
                if known is None or (known and known[-1] <= now):
                    # A new run's job, or all used up (fire_times also stops at a DST fold): look from now.
                    known = times[(run.run_id, key)] = fire_times(spec.trigger, now + timedelta(microseconds=1), end)
                for at in known[bisect_right(known, now) :]:
                    if at > end or (found and at > found[0].at):
                        break
                    if spec.kind == "trigger_watch" and not self._watching(spec.trigger, at):
                        continue
                    if found and at < found[0].at:
                        found.clear()
                    found.append(Due(at, run.run_id, spec))
                    break
        order = {"trigger_watch": 0, "scaling": 1}
        return sorted(found, key=lambda d: (order.get(d.job.kind, 2), d.job.job_key))

    def _watching(self, trigger: object, at: datetime) -> bool:
        """Every poll while something is happening (``close_watch``), else every Nth in the watch hours."""
        if self.close_watch is not None and self.close_watch(at):
            return True
        if self.watch_hours is not None:
            local = at.astimezone(self.zone).time()
            if not self.watch_hours[0] <= local <= self.watch_hours[1]:
                return False
        if self.watch_every > 1 and isinstance(trigger, IntervalTrigger):
            first: datetime = trigger.start_date
            interval: timedelta = trigger.interval
            beat = round((at - first).total_seconds() / interval.total_seconds())
            return beat % self.watch_every == 0
        return True

    async def advance_to(self, when: datetime) -> list[Fired]:
        """Move the clock to ``when``: wake sleepers and fire due jobs in time order."""
        if when < self.clock.now():
            raise ValueError(f"the clock is already at {self.clock.now():%Y-%m-%d %H:%M} UTC and does not go back")
        fired: list[Fired] = []
        await self.sync_runs()
        times = self._fire_times(self.clock.now(), when)
        while True:
            now = self.clock.now()
            deadline = self.clock.next_deadline()
            batch = self._next_batch(times, now, min(when, deadline) if deadline else when)
            if deadline is not None and deadline <= when and (not batch or deadline < batch[0].at):
                await self.clock.advance_to(deadline)
                await self.settle()
                continue
            if not batch:
                break
            await self.clock.advance_to(batch[0].at)
            await self.settle()
            for due in batch:
                done = Fired(due, await self.scheduler.fire(due.run_id, due.job.job_key))
                fired.append(done)
                if self.on_fired is not None:  # before settling: what the job posted belongs to it
                    await self.on_fired(done)
                await self.settle()
            if self._runs_stale:
                await self.sync_runs()
        if self.clock.now() < when:
            await self.clock.advance_to(when)
            await self.settle()
        self.fired.extend(fired)
        return fired

    async def advance(self, delta: timedelta) -> list[Fired]:
        return await self.advance_to(self.clock.now() + delta)


async def settle_tasks(
    baseline: set[asyncio.Task[Any]],
    clock: SteppedClock | None,
    limit: float = 10.0,
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Wait (in real time, briefly) until every task started since ``baseline`` is done or asleep on
    the clock. ``pause`` is how it yields (``asyncio.sleep``; a test counts its real waits)."""
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    give_up = loop.time() + limit

    def busy() -> list[asyncio.Task[Any]]:
        asleep: set[object] = set(clock.pending()) if clock is not None else set()
        tasks = [t for t in asyncio.all_tasks() if t is not current and t not in baseline and not t.done()]
        return [t for t in tasks if not _idle(t, asleep, 0)]

    for _ in range(3):  # the common case: nothing was started, or it finished without I/O
        await pause(0)
    working = busy()
    if not working:
        return
    quiet = turns = 0
    while loop.time() < give_up and quiet < 3:
        # A task that can run now, or one that finished within the last few loop turns (done
        # callbacks still queued, as the inline store's futures and shields have): turns are
        # enough. Only a wait that turns do not end is I/O (a socket, a worker thread): wait a moment.
        io = turns >= FREE_TURNS and not any(_runnable(t, 0) for t in working)
        await pause(0.001 if io else 0)
        before, working = working, busy()
        turns = 0 if io or len(working) < len(before) else turns + 1
        quiet = 0 if working else quiet + 1


def _idle(task: asyncio.Task[Any], asleep: set[object], depth: int) -> bool:
    """Waiting only on the virtual clock (directly, or through the task it awaits), or a keep-alive."""
    if _server_connection(task):
        return True
    waiting = getattr(task, "_fut_waiter", None)  # CPython's record of what a task awaits
    if waiting is None:
        return False
    if waiting in asleep:
        return True
    if depth >= 20:
        return False
    if isinstance(waiting, asyncio.Task):
        return _idle(waiting, asleep, depth + 1)
    return _idle_wait(_innermost(task.get_coro()), asleep, depth)


def _runnable(task: asyncio.Task[Any], depth: int) -> bool:
    """Runs on the loop's next turn without waiting for I/O: nothing awaited, or what it awaits
    (a future, or a task itself runnable) is already settled."""
    waiting = getattr(task, "_fut_waiter", None)
    if waiting is None or waiting.done():
        return True
    if isinstance(waiting, asyncio.Task) and depth < 20:
        return _runnable(waiting, depth + 1)
    return False


def _innermost(coro: Any) -> Any:
    """The frame the task is suspended in, at the bottom of its chain of awaits."""
    frame = None
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or frame
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return frame


def _idle_wait(frame: Any, asleep: set[object], depth: int) -> bool:
    """``asyncio.wait`` on idle tasks or sleeps (a lease's interruptible work), or an ``asyncio.Event``:
    in this process only the bot's own code sets one (a lease lost or released), so it waits for
    another task, which is itself busy or idle."""
    if frame is None:
        return False
    code = frame.f_code
    if code.co_name == "wait" and code.co_filename == asyncio.locks.__file__:
        return True
    if code.co_name == "_wait" and code.co_filename == asyncio.tasks.__file__:
        pending = [f for f in frame.f_locals.get("fs", ()) if not f.done()]
        return all(_idle(f, asleep, depth + 1) if isinstance(f, asyncio.Task) else f in asleep for f in pending)
    return False


def _server_connection(task: asyncio.Task[Any]) -> bool:
    """An aiohttp server's keep-alive connection task: it waits for the next request, it is not work.

    (The client side of a request in flight is a task of its own and still counts as busy.)
    """
    return getattr(task.get_coro(), "__qualname__", "") == "RequestHandler.start"
