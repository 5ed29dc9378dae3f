"""The verification window and acceptance checks, apart from executor.py so each stays one screenful."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from bot.engine.context import Context
from bot.engine.errors import StoreUnavailable
from bot.engine.landing import history_read, wait_until_window
from bot.engine.lease import Lease, LeaseLost
from bot.engine.ports import CheckResult, ProgressCallback
from bot.engine.records import Run, StepLane
from bot.runbook.conditions import Condition, Op
from bot.runbook.durations import format_duration
from bot.runbook.models import Environment, Step, Verification

# The comparison that breaches a condition: "p95 < 50 for 5m" breaches when "p95 >= 50 for 5m" holds.
_BREACHING: dict[Op, Op] = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


class StepFailed(Exception):
    """Internal: the step cannot go on; ``message`` is the sentence for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def watch_and_accept(
    ctx: Context,
    run: Run,
    step: Step,
    lane: StepLane,
    progress: ProgressCallback,
    lease: Lease,
    landed: datetime | None = None,
) -> None:
    """Watch the verification window (a dry run checks it once), then the acceptance criteria must hold.

    ``landed`` is when the step's newest change landed: no condition is judged on metrics from before it.
    """
    env = ctx.environment(lane.environment)
    since = None if run.dry_run else landed
    if step.verification is not None:
        if run.dry_run:
            await _check_once(ctx, step.verification.conditions, env, progress)
        else:
            await _watch_window(ctx, step.verification, env, progress, lease, since)
    await _check_once(ctx, step.acceptance, env, progress, lease, since)


async def _check_once(
    ctx: Context,
    conditions: list[Condition],
    env: Environment,
    progress: ProgressCallback,
    lease: Lease | None = None,
    since: datetime | None = None,
) -> None:
    for condition in conditions:
        if lease is not None:
            await wait_until_window(ctx, since, history_read(condition), f"'{_text(condition)}'", progress, lease)
        result = await ctx.checker.check(condition, env, ctx.clock.now())
        if result.passed is None:
            raise StepFailed(f"Could not confirm '{result.condition}': {result.detail} (no data is never healthy).")
        if not result.passed:
            raise StepFailed(f"'{result.condition}' does not hold: {result.detail}.")
        await progress(f"{result.condition}: pass ({result.detail})")


async def _watch_window(
    ctx: Context,
    verification: Verification,
    env: Environment,
    progress: ProgressCallback,
    lease: Lease,
    landed: datetime | None,
) -> None:
    """Check every watch interval until the window ends; fail at the first breach.

    A condition reading the last D is judged only from the landing + D on (its window never reaches
    back before the change), and the watch lasts until every condition has been judged so. A reading
    the store is out for (a database outage) is skipped: the watch resumes when it returns.
    Unknown (no data) is never a breach and never a pass: a condition still unknown when the window ends
    fails the step, with a sentence saying whether it had any data at all. Each sleep
    ends early (LeaseLost) when the execution is taken over: by recovery elsewhere, or a rollback.
    """
    started = ctx.clock.now()
    since = landed or started
    due = [since + history_read(c) for c in verification.conditions]
    deadline = max([started + verification.window, *due])
    texts = ", ".join(_text(c) for c in verification.conditions) or "nothing"
    longer = "" if deadline == started + verification.window else f", until {ctx.show_time(deadline)}"
    await progress(
        f"watching {texts} every {format_duration(ctx.runbook.schedule.watch_interval)} for "
        f"{format_duration(verification.window)}{longer} (windows read from the landing at {ctx.show_time(since)} on)"
    )
    readings, had_data = await _watch_until(ctx, verification, env, lease, started, due, deadline)
    await _last_readings(verification, readings, had_data, progress)


async def _watch_until(
    ctx: Context,
    verification: Verification,
    env: Environment,
    lease: Lease,
    started: datetime,
    due: list[datetime],
    deadline: datetime,
) -> tuple[list[tuple[int, _Reading]], set[int]]:
    """Read every interval until ``deadline``: the last readings, and which conditions ever had data."""
    span = format_duration(verification.window)
    interval = ctx.runbook.schedule.watch_interval.total_seconds()
    had_data: set[int] = set()
    readings: list[tuple[int, _Reading]] = []
    while True:
        left = (deadline - ctx.clock.now()).total_seconds()
        if left > 0:
            await lease.interruptible(ctx.clock.sleep(min(interval, left)), "finishing verification")
        if lease.lost:  # the renewal timer was refused: another replica owns the execution now
            raise LeaseLost("finishing verification")
        now = ctx.clock.now()
        into = format_duration(now - started)
        # A condition whose window would reach back before the landing is not judged yet.
        try:
            readings = [
                (i, await _read(ctx, c, env, now)) for i, c in enumerate(verification.conditions) if now >= due[i]
            ]
        except StoreUnavailable:  # no reading this interval; the window (and the lease's beats) go on
            if now >= deadline:  # the last reading waits for the store, one interval at a time
                await lease.interruptible(ctx.clock.sleep(interval), "finishing verification")
            continue
        for index, reading in readings:
            if reading.state == "breach":
                raise StepFailed(
                    f"'{_text(reading.condition)}' does not hold {into} into the {span} verification "
                    f"window: {reading.result.detail}."
                )
            if reading.state == "clear":
                had_data.add(index)
        if now >= deadline:
            return readings, had_data


async def _last_readings(
    verification: Verification,
    readings: list[tuple[int, _Reading]],
    had_data: set[int],
    progress: ProgressCallback,
) -> None:
    """At the window's end: a condition still unknown fails the step, saying whether it ever had data."""
    span = format_duration(verification.window)
    for index, reading in readings:
        text = _text(reading.condition)
        if reading.state == "unknown" and index not in had_data:
            raise StepFailed(
                f"Could not confirm '{text}': there was no data for it during the whole {span} verification "
                f"window ({reading.result.detail}); no data is never healthy."
            )
        if reading.state == "unknown":
            raise StepFailed(
                f"Could not confirm '{text}' at the end of the {span} verification window: "
                f"{reading.result.detail} (no data is never healthy)."
            )
        held = reading.result.detail if reading.condition.mode != "for" else "no sustained breach"
        await progress(f"{text}: held for the {span} window ({held})")


async def _read(ctx: Context, condition: Condition, env: Environment, now: datetime) -> _Reading:
    """One check of one verification condition: breach, clear or unknown.

    A ``for D`` condition breaches only when its opposite held for D (a spike shorter than D
    is no breach); a bare or ``over`` condition breaches when it is false now.
    """
    if condition.mode == "for":
        opposite = replace(condition, op=_BREACHING[condition.op], text="")
        result = await ctx.checker.check(opposite, env, now)
        state: _State = "unknown" if result.passed is None else "breach" if result.passed else "clear"
        return _Reading(condition, state, result)
    result = await ctx.checker.check(condition, env, now)
    state = "unknown" if result.passed is None else "clear" if result.passed else "breach"
    return _Reading(condition, state, result)


_State = Literal["breach", "clear", "unknown"]


@dataclass(frozen=True)
class _Reading:
    condition: Condition
    state: _State
    result: CheckResult


def _text(condition: Condition) -> str:
    return condition.text or str(condition)
