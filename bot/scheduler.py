"""When reports, standups, reminders, scaling rules and the trigger watch run, and that each posts once.

The jobs themselves are data (bot/job_specs.py). ``ReportScheduler`` wires them into an
APScheduler 3 ``AsyncIOScheduler``; every run of a job first checks
that its time falls on a run day, then claims (job, run, local date) in the shared ClaimStore,
so a restart, a misfire catch-up or a second replica on the same database never posts twice.
A post that fails gives its claim back and is tried again at the next tick (at most
``POST_ATTEMPTS`` times); then the team is told, so a failure is never silent.
Times are wall-clock times in their zone (zoneinfo), so 17:00 Chicago stays 17:00 across DST.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

import structlog

from bot.engine.ports import Clock
from bot.job_specs import (
    GATE_GRACE,
    REPORT_GRACE,
    SCALING_GRACE,
    JobKind,
    JobSpec,
    build_jobs,
    fire_times,
    latest_fire_time,
    run_dates,
    run_day_of,
)
from bot.reports.ports import ClaimStore
from bot.runbook.models import Runbook

__all__ = [  # the job data is re-exported: callers import the schedule's names from here
    "GATE_GRACE",
    "LATE_AFTER",
    "POST_ATTEMPTS",
    "REPORT_GRACE",
    "SCALING_GRACE",
    "FireResult",
    "JobKind",
    "JobSkipped",
    "JobSpec",
    "ReportScheduler",
    "ScheduleCallbacks",
    "ScheduledRun",
    "build_jobs",
    "failed_report_text",
    "fire_times",
    "latest_fire_time",
    "missed_report_text",
    "run_dates",
    "run_day_of",
]

LATE_AFTER = timedelta(minutes=5)
POST_ATTEMPTS = 3  # the first post and two retries at the following ticks
_ALREADY = "already posted (claimed by this or another replica)"

log = structlog.get_logger(__name__)


def _report_name(kind: str) -> str:
    return {"daily_report": "report", "phase_summary": "phase summary", "final_report": "final report"}.get(kind, kind)


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def missed_report_text(kind: JobKind, days: Sequence[int]) -> str:
    """What the team reads when reports' times passed while the bot was down: every missed day, once."""
    name = _report_name(kind)
    names = _and([f"Day {day}" for day in days])
    was = f"{name} was" if len(days) == 1 else f"{name}s were"
    commands = _and([f"`/ion report {day}`" for day in days])
    return f"The {names} {was} missed (the bot was not running at the time); run {commands}."


def failed_report_text(kind: JobKind, day: int, attempts: int) -> str:
    """What the team reads when posting a report failed at every attempt."""
    return (
        f"The Day {day} {_report_name(kind)} could not be posted ({attempts} attempts failed; the bot's log has "
        f"the error); run `/ion report {day}`."
    )


class JobSkipped(Exception):
    """A callback raises it when its job has nothing to do any more (the run was finished or abandoned).

    Not a failure: nothing is retried and nobody is told.
    """


# --- wiring -------------------------------------------------------------------------------------


class ScheduleCallbacks(Protocol):
    """What the scheduled jobs do; the lead implements these over the engine and the chat layer."""

    async def post_daily_report(self, run_id: str, day: int, late: bool) -> None: ...

    async def post_standup(self, run_id: str, standup_name: str, day: int, late: bool) -> None: ...

    async def post_gate_reminder(self, run_id: str, gate_id: str, late: bool) -> None: ...

    async def post_phase_summary(self, run_id: str, day: int, late: bool) -> None: ...

    async def post_final_report(self, run_id: str, day: int, late: bool) -> None: ...

    async def post_missed_report(self, run_id: str, kind: str, day: int, text: str) -> None: ...

    async def apply_scaling_rules(self, run_id: str, at: datetime) -> None: ...

    async def watch_triggers(self, run_id: str, at: datetime) -> None: ...


@dataclass(frozen=True)
class ScheduledRun:
    run_id: str
    runbook: Runbook
    start_date: date
    jobs: dict[str, JobSpec]


Outcome = tuple[Literal["ok", "skipped", "failed"], str]
RetryKey = tuple[str, str, datetime]  # run id, job key, due


@dataclass(frozen=True)
class FireResult:
    """What one job run did: ``posted`` True when it called back; ``reason`` says why not."""

    posted: bool
    reason: str
    day: int | None = None
    late: bool = False


class ReportScheduler:
    """Adds a run's jobs to the scheduler and runs each with the run-day check and the claim."""

    def __init__(
        self,
        scheduler: Any,
        callbacks: ScheduleCallbacks,
        claims: ClaimStore,
        clock: Clock,
        late_after: timedelta = LATE_AFTER,
    ) -> None:
        self.scheduler = scheduler
        self.callbacks = callbacks
        self.claims = claims
        self.clock = clock
        self.late_after = late_after
        self.runs: dict[str, ScheduledRun] = {}
        # Posts that failed and gave their claim back: how many attempts failed so far.
        self.retries: dict[RetryKey, int] = {}
        self._retrying: set[RetryKey] = set()

    def add_run(self, run_id: str, runbook: Runbook, start_date: date) -> list[JobSpec]:
        """Register (or re-register, idempotently) every job of an active run."""
        jobs = build_jobs(runbook, start_date)
        self._unschedule(run_id)
        self.runs[run_id] = ScheduledRun(run_id, runbook, start_date, {j.job_key: j for j in jobs})
        for spec in jobs:
            self.scheduler.add_job(
                self.fire,
                trigger=spec.trigger,
                args=(run_id, spec.job_key),
                id=f"{run_id}:{spec.job_key}",
                name=f"{spec.kind} of run {run_id}",
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(spec.misfire_grace_time.total_seconds()),
                replace_existing=True,
            )
        return jobs

    def remove_run(self, run_id: str) -> None:
        """Stop a run's jobs (it was finished or abandoned) and forget its pending retries."""
        self._unschedule(run_id)
        for retry in [r for r in self.retries if r[0] == run_id]:
            del self.retries[retry]

    def _unschedule(self, run_id: str) -> None:
        run = self.runs.pop(run_id, None)
        if run is None:
            return
        for key in run.jobs:
            job_id = f"{run_id}:{key}"
            while self.scheduler.get_job(job_id) is not None:
                self.scheduler.remove_job(job_id)

    async def fire(self, run_id: str, job_key: str) -> FireResult:
        """The body of every scheduled job: when was it due, is that a run day, did we win the claim."""
        run = self.runs.get(run_id)
        spec = run.jobs.get(job_key) if run else None
        if run is None or spec is None:
            return FireResult(False, "the run or job is no longer scheduled")
        now = self.clock.now()
        if self.retries:
            await self.retry_failed(now)
        if spec.claim == "none":
            status, detail = await self._call(run, spec, None, now, late=False)
            said = {"ok": "ran", "skipped": f"skipped: {detail}", "failed": f"failed ({detail})"}[status]
            return FireResult(status == "ok", said)
        due = latest_fire_time(spec.trigger, now, spec.misfire_grace_time + timedelta(minutes=1))
        if due is None or now - due > spec.misfire_grace_time:
            return FireResult(False, "not due within its grace time")
        return await self._run_due(run, spec, due, now)

    async def catch_up(self, now: datetime | None = None) -> list[FireResult]:
        """On start: post what is due within its grace (marked late); one notice names every report
        missed beyond it since the last one posted (or noticed)."""
        now = now or self.clock.now()
        results: list[FireResult] = []
        for run in list(self.runs.values()):
            for spec in run.jobs.values():
                if spec.claim != "per_date":
                    continue
                if spec.missed_notice:
                    team = ZoneInfo(run.runbook.calendar.timezone)
                    times = fire_times(spec.trigger, datetime.combine(run.start_date, time(0), team), now)
                else:
                    latest = latest_fire_time(spec.trigger, now)
                    times = [latest] if latest is not None else []
                if not times:
                    continue
                if now - times[-1] <= spec.misfire_grace_time:
                    results.append(await self._run_due(run, spec, times.pop(), now))
                if spec.missed_notice and times:
                    results.append(await self._notice_missed(run, spec, times))
        return results

    async def retry_failed(self, now: datetime | None = None) -> list[FireResult]:
        """Try again the posts that failed at an earlier tick; past their grace, give up and say so."""
        now = now or self.clock.now()
        results: list[FireResult] = []
        for retry in list(self.retries):
            if retry in self._retrying or retry not in self.retries:
                continue  # another tick is trying it right now
            run_id, job_key, due = retry
            run = self.runs.get(run_id)
            spec = run.jobs.get(job_key) if run else None
            if run is None or spec is None:
                self.retries.pop(retry, None)
                continue
            self._retrying.add(retry)
            try:
                if now - due <= spec.misfire_grace_time:
                    result = await self._run_due(run, spec, due, now)
                else:
                    result = await self._give_up_late(run, spec, due)
            finally:
                self._retrying.discard(retry)
            if result.reason.startswith("already posted"):
                self.retries.pop(retry, None)  # a catch-up here or on a replica took it over
            results.append(result)
        return results

    # -- internals --

    def _day_of(self, run: ScheduledRun, spec: JobSpec, due: datetime) -> int | None:
        local = due.astimezone(ZoneInfo(run.runbook.calendar.timezone)).date()
        day = run_day_of(run.runbook.calendar, run.start_date, local)
        if spec.day is not None and day != spec.day:
            return None
        return day

    def _claim_key(self, run: ScheduledRun, spec: JobSpec, due: datetime) -> tuple[str, str]:
        local = due.astimezone(ZoneInfo(run.runbook.calendar.timezone))
        # Per-fire claims name the UTC hour: the fall-back night has two local 01:00s.
        key = f"{spec.job_key}@{due.astimezone(UTC):%Y-%m-%dT%H:%MZ}" if spec.claim == "per_fire" else spec.job_key
        return key, local.date().isoformat()

    async def _run_due(self, run: ScheduledRun, spec: JobSpec, due: datetime, now: datetime) -> FireResult:
        day = self._day_of(run, spec, due)
        if spec.run_day_only and day is None:
            return FireResult(False, "not a run day")
        key, local_date = self._claim_key(run, spec, due)
        if not await self.claims.claim_post(key, run.run_id, local_date):
            return FireResult(False, _ALREADY, day)
        late = now - due > self.late_after
        retry = (run.run_id, spec.job_key, due)
        failed_before = self.retries.pop(retry, 0)
        status, detail = await self._call(run, spec, day, due, late)
        if status == "ok":
            return FireResult(True, "posted late" if late else "posted", day, late)
        if status == "skipped":
            return FireResult(False, f"skipped: {detail}", day, late)
        failed = failed_before + 1
        if failed >= POST_ATTEMPTS:
            return await self._give_up(run, spec, day, failed, f"posting failed ({detail})")
        try:
            await self.claims.release_post(key, run.run_id, local_date)
        except Exception:  # the claim stays taken; say so instead of pretending a retry will come
            log.exception("scheduler.release_failed", job=spec.job_key, run_id=run.run_id)
            return await self._give_up(run, spec, day, failed, f"posting failed ({detail}) and its claim is stuck")
        self.retries[retry] = failed
        return FireResult(
            False,
            f"posting failed ({detail}); attempt {failed} of {POST_ATTEMPTS}, retried at the next tick",
            day,
            late,
        )

    async def _give_up_late(self, run: ScheduledRun, spec: JobSpec, due: datetime) -> FireResult:
        """A failed post whose retry came after its grace: take the claim back, then give up once."""
        failed = self.retries.pop((run.run_id, spec.job_key, due), 0)
        day = self._day_of(run, spec, due)
        key, local_date = self._claim_key(run, spec, due)
        if not await self.claims.claim_post(key, run.run_id, local_date):
            return FireResult(False, _ALREADY, day)
        return await self._give_up(run, spec, day, failed, "its retry came after its grace time")

    async def _give_up(self, run: ScheduledRun, spec: JobSpec, day: int | None, failed: int, why: str) -> FireResult:
        """Keep the claim (no later catch-up re-posts or re-notices it) and tell the team about a report."""
        if not spec.missed_notice or day is None:
            log.error("scheduler.gave_up", job=spec.job_key, run_id=run.run_id, day=day, reason=why)
            return FireResult(False, f"{why}; gave up after {failed} attempts", day)
        text = failed_report_text(spec.kind, day, failed)
        status, detail = await self._guard(spec, self.callbacks.post_missed_report(run.run_id, spec.kind, day, text))
        said = "the failure notice was posted" if status == "ok" else f"the failure notice was not posted ({detail})"
        return FireResult(False, f"{why}; gave up after {failed} attempts, {said}", day)

    async def _notice_missed(self, run: ScheduledRun, spec: JobSpec, times: Sequence[datetime]) -> FireResult:
        """Claim the missed occurrences from the latest back to the last one posted, then post one notice."""
        days: list[int] = []
        for due in reversed(times):
            day = self._day_of(run, spec, due)
            if day is None:
                continue
            key, local_date = self._claim_key(run, spec, due)
            if not await self.claims.claim_post(key, run.run_id, local_date):
                break  # posted (or noticed) then, so everything before it was dealt with too
            days.append(day)
        if not days:
            return FireResult(False, _ALREADY)
        days.reverse()
        text = missed_report_text(spec.kind, days)
        status, detail = await self._guard(
            spec, self.callbacks.post_missed_report(run.run_id, spec.kind, days[-1], text)
        )
        if status != "ok":
            return FireResult(False, detail, days[-1])
        return FireResult(True, "missed notice posted", days[-1])

    async def _call(self, run: ScheduledRun, spec: JobSpec, day: int | None, at: datetime, late: bool) -> Outcome:
        cb, run_id = self.callbacks, run.run_id
        call: Awaitable[None]
        if spec.kind == "daily_report" and day is not None:
            call = cb.post_daily_report(run_id, day, late)
        elif spec.kind == "standup" and day is not None and spec.name is not None:
            call = cb.post_standup(run_id, spec.name, day, late)
        elif spec.kind == "gate_reminder" and spec.name is not None:
            call = cb.post_gate_reminder(run_id, spec.name, late)
        elif spec.kind == "phase_summary" and day is not None:
            call = cb.post_phase_summary(run_id, day, late)
        elif spec.kind == "final_report" and day is not None:
            call = cb.post_final_report(run_id, day, late)
        elif spec.kind == "scaling":
            call = cb.apply_scaling_rules(run_id, at)
        elif spec.kind == "trigger_watch":
            call = cb.watch_triggers(run_id, at)
        else:
            log.warning("scheduler.job_without_target", job=spec.job_key, run_id=run_id)
            return "failed", f"the job {spec.job_key} has nothing to run"
        return await self._guard(spec, call)

    async def _guard(self, spec: JobSpec, call: Awaitable[None]) -> Outcome:
        """A failing callback is logged and reported; it must not stop the scheduler or other catch-ups."""
        try:
            await call
        except JobSkipped as skipped:
            log.info("scheduler.job_skipped", job=spec.job_key, reason=str(skipped))
            return "skipped", str(skipped)
        except Exception as error:
            log.exception("scheduler.job_failed", job=spec.job_key)
            return "failed", f"{type(error).__name__}: {error}"
        return "ok", ""
