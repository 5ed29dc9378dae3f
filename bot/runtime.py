"""The bot's time-driven half: reports, standups, reminders, scaling and the trigger watch, running.

``Runtime`` binds a wired ``Bot`` to the report services (bot/reports/service.py) and a
``ReportScheduler``. On real time APScheduler fires the jobs; on a virtual clock nothing fires
by itself and ``run_due`` walks the clock from one fire time to the next (console ``advance 2h``,
``ionbot simulate``, tests), so every job runs at its own virtual time and in time order.
Claims in the store make each post happen once across restarts and replicas.

Runs are started and finished by whichever replica got the command, so the set of scheduled
runs is read again from the store on every run-level event here and every ``resync_every``
(a minute) in any case; the same tick retries posts that failed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.engine.clock import VirtualClock
from bot.engine.ports import Event
from bot.engine.records import Run
from bot.reports.ports import ReportPoster
from bot.reports.render import ReportRenderer
from bot.reports.service import build_report_services
from bot.scheduler import FireResult, JobSpec, ReportScheduler

if TYPE_CHECKING:
    from bot.bootstrap import Bot

log = structlog.get_logger(__name__)

_TICK = timedelta(microseconds=1)
# At one instant the watch and the scaling rules go first, so a report sees fresh alerts and sizes.
_FIRST = {"trigger_watch": 0, "scaling": 1}
READY_TIMEOUT_SECONDS = 3.0
RESYNC_EVERY = timedelta(minutes=1)
RESYNC_JOB_ID = "runtime:resync"


class JobTable:
    """Holds the jobs on a virtual clock, where ``Runtime.run_due`` (not a timer) fires them."""

    running = False

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}

    def add_job(self, func: Any, **options: Any) -> None:
        self.jobs[str(options.get("id"))] = {"func": func, **options}

    def get_job(self, job_id: str) -> object | None:
        return self.jobs.get(job_id)

    def remove_job(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)


@dataclass(frozen=True)
class Fired:
    """One job run by ``run_due``: when it was due, which run and job, and what came of it."""

    at: datetime
    run_id: str
    job_key: str
    result: FireResult


class Runtime:
    """Starts, drives and stops the scheduled side of one bot process."""

    def __init__(
        self,
        bot: Bot,
        poster: ReportPoster,
        scheduler: AsyncIOScheduler | None = None,
        *,
        watch_every: timedelta | None = None,
        renderer: ReportRenderer | None = None,
        resync_every: timedelta = RESYNC_EVERY,
    ) -> None:
        """``watch_every`` thins the trigger watch under ``run_due`` (default: the runbook's
        watch_interval); triggers judge whole series windows, so a coarser poll still sees a
        breach that lasted its duration, only later. ``resync_every`` is how soon a run started
        or finished on another replica is noticed here."""
        self.bot = bot
        self.watch_every = watch_every
        self.resync_every = resync_every
        self.virtual = isinstance(bot.clock, VirtualClock)
        services = build_report_services(bot, poster, renderer)
        self.poster = poster
        self.jobs = services.jobs  # the scheduled jobs' bodies
        self.reports = services.commands  # the on-demand report commands (the Slack app's ReportsPort)
        self.scheduler: Any = scheduler if scheduler is not None else JobTable() if self.virtual else AsyncIOScheduler()
        self.report_scheduler = ReportScheduler(self.scheduler, self.jobs, bot.store, bot.clock)
        self.fired: list[Fired] = []
        self._thinned: dict[str, BaseTrigger] = {}
        self._cursor: datetime | None = None
        self._resync: IntervalTrigger | None = None
        self._resynced_at: datetime | None = None
        self._listening = False
        self._started = False

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self) -> list[FireResult]:
        """Schedule every open run, post what is due within its grace (late), then start the timer."""
        if not self._listening:
            self.bot.events.subscribe(self._on_event)
            self._listening = True
        self._started = True
        await self.sync_runs()
        now = self.bot.clock.now()
        results = await self.report_scheduler.catch_up(now)
        self._cursor = self._resynced_at = now
        seconds = max(1, int(self.resync_every.total_seconds()))
        self._resync = IntervalTrigger(seconds=seconds, start_date=now, timezone=UTC)
        if not self.virtual:
            self.scheduler.add_job(
                self.resync,
                trigger=self._resync,
                id=RESYNC_JOB_ID,
                name="resync the scheduled runs",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=seconds,
                replace_existing=True,
            )
            if not self.scheduler.running:
                self.scheduler.start()
        return results

    async def stop(self) -> None:
        """Stop firing jobs (running ones finish); events from the bot are ignored from now on."""
        self._started = False
        if not self.virtual and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def on_run_started(self, run: Run) -> None:
        """Schedule a run started while the process is up."""
        self.report_scheduler.add_run(run.id, self.bot.runbook, run.start_date)

    async def resync(self) -> None:
        """The periodic tick: pick up runs started or closed elsewhere, and retry failed posts."""
        if not self._started:
            return
        try:
            await self.sync_runs()
        except Exception:  # a database hiccup: the next tick tries again, the jobs keep firing
            log.exception("runtime.resync_failed")
        await self.report_scheduler.retry_failed(self.bot.clock.now())
        await self.jobs.retry_emails()

    async def sync_runs(self) -> None:
        """Schedule open runs not yet scheduled and drop those that finished or were abandoned."""
        open_runs = {run.id: run for run in await self.bot.store.open_runs()}
        for run_id in list(self.report_scheduler.runs):
            if run_id not in open_runs:
                self.report_scheduler.remove_run(run_id)
        for run in open_runs.values():
            if run.id not in self.report_scheduler.runs:
                await self.on_run_started(run)

    async def _on_event(self, event: Event) -> None:
        """Run-level events (started; finished, abandoned, paused, resumed: a step_changed without a
        step) change which runs are open, so the schedule follows them at once."""
        if not self._started:
            return
        if event.kind == "run_started" or (event.kind == "step_changed" and event.step_id is None):
            await self.sync_runs()

    # --- virtual time ----------------------------------------------------------------------------

    async def run_due(self, until: datetime) -> list[FireResult]:
        """Fire, in time order, every job due after the last call (or start) up to ``until``.

        The virtual clock is moved to each fire time before the job runs, so sleepers (executions
        waiting out a window) wake on the way and every post carries its own virtual time. When
        the clock was moved past the last call by someone else, reports due in between are
        caught up as after a restart (late within their grace, else a missed notice).

        The minute resync ticks are walked only while they matter: the first of each call (another
        replica can act only between calls) and while a failed post waits for its retry; otherwise a
        tick is folded into the next job's instant, where the runs are read again when a tick is due.
        """
        clock = self.bot.clock
        if not isinstance(clock, VirtualClock):
            raise RuntimeError(
                "run_due drives a virtual clock only; with real time APScheduler fires the jobs. Nothing was run."
            )
        if not self._started:
            await self.start()
        cursor = self._cursor or clock.now()
        results: list[FireResult] = []
        if cursor < clock.now():
            # Someone moved the clock past us (a test, an executor's wait): catch up like a restart.
            await self.sync_runs()
            results += await self.report_scheduler.catch_up(clock.now())
            cursor = clock.now()
        ticks = True
        while (at := self._next_time(cursor, until, ticks or bool(self.report_scheduler.retries))) is not None:
            if at > clock.now():
                await clock.advance_to(at)
            if self._resynced_at is None or at - self._resynced_at >= self.resync_every:
                # First: a run found now fires its jobs of this instant too.
                await self.resync()
                self._resynced_at, ticks = at, False
            for run_id, spec in self._jobs_at(cursor, at):
                result = await self.report_scheduler.fire(run_id, spec.job_key)
                self.fired.append(Fired(at, run_id, spec.job_key, result))
                results.append(result)
            cursor = at
            self._cursor = at
        if until > clock.now():
            await clock.advance_to(until)
        self._cursor = max(cursor, until)
        return results

    def _next_time(self, after: datetime, until: datetime, ticks: bool) -> datetime | None:
        """The earliest fire time in (after, until] of every scheduled job (and the resync tick)."""
        times = [self._resync_at(after) if ticks else None]
        for run in self.report_scheduler.runs.values():
            times += [self._trigger(spec).get_next_fire_time(None, after + _TICK) for spec in run.jobs.values()]
        due = [at for at in times if at is not None and at <= until]
        return min(due) if due else None

    def _resync_at(self, after: datetime) -> datetime | None:
        return self._resync.get_next_fire_time(None, after + _TICK) if self._resync is not None else None

    def _jobs_at(self, after: datetime, at: datetime) -> list[tuple[str, JobSpec]]:
        """The jobs whose next fire time after ``after`` is ``at``, watch and scaling first."""
        jobs = [
            (run.run_id, spec)
            for run in self.report_scheduler.runs.values()
            for spec in run.jobs.values()
            if self._trigger(spec).get_next_fire_time(None, after + _TICK) == at
        ]
        jobs.sort(key=lambda job: (_FIRST.get(job[1].kind, 2), job[1].job_key, job[0]))
        return jobs

    def _trigger(self, spec: JobSpec) -> BaseTrigger:
        trigger = spec.trigger
        if spec.kind != "trigger_watch" or self.watch_every is None or not isinstance(trigger, IntervalTrigger):
            return trigger
        key = f"{spec.job_key}@{trigger.start_date.isoformat()}"
        thinned = self._thinned.get(key)
        if thinned is None:
            seconds = max(1, int(self.watch_every.total_seconds()))
            thinned = IntervalTrigger(seconds=seconds, start_date=trigger.start_date, timezone=trigger.timezone)
            self._thinned[key] = thinned
        return thinned

    # --- health ----------------------------------------------------------------------------------

    async def ready(self) -> bool:
        """For /readyz: jobs can fire (the scheduler runs, or time is virtual) and the database answers."""
        if not self._started or not (self.virtual or self.scheduler.running):
            return False
        try:
            await asyncio.wait_for(self.bot.store.get_value("runtime:readyz"), READY_TIMEOUT_SECONDS)
        except Exception as error:  # readiness answers no; it never raises
            log.warning("runtime not ready: the database did not answer", error=str(error))
            return False
        return True
