"""Running a claimed lane: write-ahead, apply target by target, verify, watch, accept or fail.

Each target's snapshot is committed (one store call) before its apply starts, and its outcome
is committed right after, so a crash at any point leaves a record ``recovery.py`` can reconcile.
While it runs, the execution's lease is renewed (lease.py) and confirmed before every target: if
recovery on another replica took it over, the executor stops there and writes nothing more.
A BaseException (cancellation, a killed process) is deliberately not caught: the records stay
as they are and recovery decides what landed.

The verification window ("30 minutes post-deployment") is watched, not slept through: its
conditions are checked every watch interval and the first breach fails the step there and then.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from bot.engine import checklist, rollback
from bot.engine.context import Context
from bot.engine.errors import Refused
from bot.engine.lease import Lease, LeaseLost, describe_lease
from bot.engine.plan import BoundAction, bind_actions
from bot.engine.ports import BOT_ACTOR, ActionFailed, Actor, CheckResult, ProgressCallback
from bot.engine.records import (
    Execution,
    ExecutionState,
    Run,
    StepLane,
    StepState,
    TargetRecord,
    TargetStatus,
)
from bot.engine.states import lane_name
from bot.engine.targets import settle, write_ahead
from bot.runbook.conditions import Condition, Op
from bot.runbook.durations import format_duration
from bot.runbook.models import Environment, Step, Verification

# The comparison that breaches a condition: "p95 < 50 for 5m" breaches when "p95 >= 50 for 5m" holds.
_BREACHING: dict[Op, Op] = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


@dataclass(frozen=True)
class ExecutionResult:
    execution: Execution
    lane: StepLane
    ok: bool
    message: str
    applied: list[TargetRecord] = field(default_factory=list)
    revert_lines: list[str] = field(default_factory=list)
    rollback: rollback.RollbackResult | None = None


class StepFailed(Exception):
    """Internal: the step cannot go on; ``message`` is the sentence for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Executor:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def execute(
        self, run: Run, step: Step, lane: StepLane, execution: Execution, actor: Actor
    ) -> ExecutionResult:
        """Carry a claimed execution (lane already ``running``) to done or failed."""
        ctx = self._ctx
        name = lane_name(lane)
        records: list[TargetRecord] = []

        async def progress(text: str) -> None:
            await ctx.emit(run, "execution_progress", f"{name}: {text}", step.id, {"execution_id": execution.id})

        bound, skipped = bind_actions(ctx, step, lane.environment)
        for line in skipped:
            await progress(f"skipped {line}")
        lease = Lease(ctx.store, ctx.clock, execution.id, ctx.owner, ctx.lease)
        async with lease.kept():
            try:
                for item in bound:
                    await progress(f"{'would run' if execution.dry_run else 'running'}: {item.line}")
                    first = len(records)
                    await self._apply_action(execution, item, records, progress, lease)
                    # Verified right away: a later action of the step (25% then 50%) may move the
                    # same field on, so checking every action only at the end would fail the earlier.
                    if not execution.dry_run:
                        await self._verify(bound, records[first:])
                await lease.require("verification")
                lane, execution = await self._enter_verifying(lane, execution, actor)
                await self._watch_and_accept(run, step, lane, progress, lease)
                await lease.require("accepting the step")
            except StepFailed as failure:
                if not await lease.confirm():
                    return await self._stopped(run, step, lane, execution, records, "recording the failure")
                return await self._fail(run, step, lane, execution, records, failure.message, actor)
            except LeaseLost as lost:
                return await self._stopped(run, step, lane, execution, records, lost.before)
            return await self._succeed(run, step, lane, execution, records, actor)

    async def _apply_action(
        self,
        execution: Execution,
        item: BoundAction,
        records: list[TargetRecord],
        progress: ProgressCallback,
        lease: Lease,
    ) -> None:
        ctx = self._ctx
        for target in item.action.targets():
            await lease.require(target.label)  # another replica took over: change nothing more
            snapshot = await item.action.snapshot(target) if item.action.mutating else None
            record = await write_ahead(ctx, execution, len(records), item, target, snapshot)
            records.append(record)
            if execution.dry_run:
                shown = "; ".join(record.changes) or "no change"
                records[-1] = await settle(ctx, record, TargetStatus.SKIPPED, f"dry run: would apply {shown}")
                await progress(f"would change {target.label}: {shown}")
                continue
            try:
                outcome = await item.action.apply(target, snapshot, progress)
            except ActionFailed as exc:
                records[-1] = await settle(ctx, record, TargetStatus.FAILED, exc.message)
                raise StepFailed(exc.message) from exc
            except Exception as exc:  # a bug in an adapter must not leave the lane running
                message = f"{item.line} failed unexpectedly on {target.label} ({type(exc).__name__}: {exc})."
                records[-1] = await settle(ctx, record, TargetStatus.FAILED, message)
                raise StepFailed(message) from exc
            if not outcome.ok:
                records[-1] = await settle(ctx, record, TargetStatus.FAILED, outcome.message)
                raise StepFailed(outcome.message)
            status = TargetStatus.APPLIED if outcome.changed else TargetStatus.UNCHANGED
            records[-1] = await settle(ctx, record, status, outcome.message)
            await progress(f"{target.label}: {outcome.message}")

    async def _verify(self, bound: list[BoundAction], records: list[TargetRecord]) -> None:
        by_index = {b.index: b for b in bound}
        for record in records:
            item = by_index[record.action_index]
            target = next(t for t in item.action.targets() if t.key == record.target_key)
            try:
                outcome = await item.action.verify(target)
            except ActionFailed as exc:
                raise StepFailed(exc.message) from exc
            if not outcome.ok:
                raise StepFailed(f"Verification of {record.target_label} failed: {outcome.message}")

    async def _enter_verifying(self, lane: StepLane, execution: Execution, actor: Actor) -> tuple[StepLane, Execution]:
        moved = await self._ctx.lanes.transition(lane, StepState.VERIFYING, actor, "applied; verifying")
        verifying = replace(execution, state=ExecutionState.VERIFYING)
        await self._ctx.store.save_execution(verifying)
        return moved, verifying

    async def _watch_and_accept(
        self, run: Run, step: Step, lane: StepLane, progress: ProgressCallback, lease: Lease
    ) -> None:
        """Watch the verification window (a dry run checks it once), then the acceptance criteria must hold."""
        ctx = self._ctx
        env = ctx.environment(lane.environment)
        if step.verification is not None:
            if run.dry_run:
                await self._check_once(step.verification.conditions, env, progress)
            else:
                await self._watch_window(step.verification, env, progress, lease)
        await self._check_once(step.acceptance, env, progress)

    async def _check_once(self, conditions: list[Condition], env: Environment, progress: ProgressCallback) -> None:
        for condition in conditions:
            result = await self._ctx.checker.check(condition, env, self._ctx.clock.now())
            if result.passed is None:
                raise StepFailed(f"Could not confirm '{result.condition}': {result.detail} (no data is never healthy).")
            if not result.passed:
                raise StepFailed(f"'{result.condition}' does not hold: {result.detail}.")
            await progress(f"{result.condition}: pass ({result.detail})")

    async def _watch_window(
        self, verification: Verification, env: Environment, progress: ProgressCallback, lease: Lease
    ) -> None:
        """Check every watch interval until the window ends; fail at the first breach.

        Unknown (no data) is never a breach and never a pass: a condition still unknown when the
        window ends fails the step, with a sentence saying whether it had any data at all.
        """
        ctx = self._ctx
        conditions = verification.conditions
        span = format_duration(verification.window)
        interval = ctx.runbook.schedule.watch_interval.total_seconds()
        started = ctx.clock.now()
        deadline = started + verification.window
        texts = ", ".join(_text(c) for c in conditions) or "nothing"
        await progress(f"watching {texts} every {format_duration(ctx.runbook.schedule.watch_interval)} for {span}")
        had_data: set[int] = set()
        readings: list[_Reading] = []
        while True:
            left = (deadline - ctx.clock.now()).total_seconds()
            if left > 0:
                await ctx.clock.sleep(min(interval, left))
            if lease.lost:  # the renewal timer was refused: another replica owns the execution now
                raise LeaseLost("finishing verification")
            now = ctx.clock.now()
            into = format_duration(now - started)
            readings = [await self._read(condition, env, now) for condition in conditions]
            for index, reading in enumerate(readings):
                if reading.state == "breach":
                    raise StepFailed(
                        f"'{_text(reading.condition)}' does not hold {into} into the {span} verification "
                        f"window: {reading.result.detail}."
                    )
                if reading.state == "clear":
                    had_data.add(index)
            if now >= deadline:
                break
        for index, reading in enumerate(readings):
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

    async def _read(self, condition: Condition, env: Environment, now: datetime) -> _Reading:
        """One check of one verification condition: breach, clear or unknown.

        A ``for D`` condition breaches only when its opposite held for D (a spike shorter than D
        is no breach); a bare or ``over`` condition breaches when it is false now.
        """
        if condition.mode == "for":
            opposite = replace(condition, op=_BREACHING[condition.op], text="")
            result = await self._ctx.checker.check(opposite, env, now)
            state: _State = "unknown" if result.passed is None else "breach" if result.passed else "clear"
            return _Reading(condition, state, result)
        result = await self._ctx.checker.check(condition, env, now)
        state = "unknown" if result.passed is None else "clear" if result.passed else "breach"
        return _Reading(condition, state, result)

    async def _succeed(
        self,
        run: Run,
        step: Step,
        lane: StepLane,
        execution: Execution,
        records: list[TargetRecord],
        actor: Actor,
    ) -> ExecutionResult:
        ctx = self._ctx
        current = await ctx.lanes.get(run.id, step.id, lane.environment)
        if current.state is not StepState.VERIFYING or current.last_execution_id != execution.id:
            message = f"{lane_name(lane)} was {current.state.value} by someone else during verification."
            ended = replace(execution, state=ExecutionState.FAILED, finished_at=ctx.clock.now(), message=message)
            await ctx.store.save_execution(ended)
            return ExecutionResult(ended, current, False, message, _applied(records))
        ended = replace(execution, state=ExecutionState.SUCCEEDED, finished_at=ctx.clock.now(), message="verified")
        await ctx.store.save_execution(ended)
        lane, message = await accept_if_complete(ctx, run, step, current, actor)
        await ctx.emit(run, "execution_finished", message, step.id, {"execution_id": execution.id, "ok": True})
        return ExecutionResult(ended, lane, True, message, _applied(records))

    async def _stopped(
        self,
        run: Run,
        step: Step,
        lane: StepLane,
        execution: Execution,
        records: list[TargetRecord],
        before: str,
    ) -> ExecutionResult:
        """Recovery on another replica took the execution over: it owns the records now, so write none."""
        ctx = self._ctx
        applied = _applied(records)
        current = await ctx.lanes.get(run.id, step.id, lane.environment)
        stored = await ctx.store.get_execution(execution.id) or execution
        listed = ", ".join(r.target_label for r in applied) or "nothing"
        message = (
            f"{lane_name(lane)} stopped before {before}: crash recovery on another replica took this execution "
            f"over (its heartbeat looked older than the {describe_lease(ctx.lease)} lease), so nothing more was "
            f"changed here. Applied before stopping: {listed}. The lane is {current.state.value}; check what "
            "landed, then roll back or run it again."
        )
        await ctx.auditor.record(
            BOT_ACTOR,
            "lease lost",
            run_id=run.id,
            step_id=f"{step.id}@{lane.environment}",
            outcome="failed",
            detail=message,
        )
        await ctx.emit(run, "execution_finished", message, step.id, {"execution_id": execution.id, "ok": False})
        return ExecutionResult(stored, current, False, message, applied)

    async def _fail(
        self,
        run: Run,
        step: Step,
        lane: StepLane,
        execution: Execution,
        records: list[TargetRecord],
        reason: str,
        actor: Actor,
    ) -> ExecutionResult:
        ctx = self._ctx
        applied = _applied(records)
        ended = replace(execution, state=ExecutionState.FAILED, finished_at=ctx.clock.now(), message=reason)
        await ctx.store.save_execution(ended)
        current = await ctx.lanes.get(run.id, step.id, lane.environment)
        if current.state in (StepState.RUNNING, StepState.VERIFYING) and current.last_execution_id == execution.id:
            current = await ctx.lanes.transition(current, StepState.FAILED, actor, reason)
        # The preview also holds a failed target whose update landed after all (or in part).
        plan = await rollback.preview(ctx, run, step, current)
        listed = ", ".join(r.target_label for r in applied) or "nothing"
        message = f"{lane_name(lane)} failed: {reason} Applied before the failure: {listed}."
        changed = bool(plan.targets)
        result = ExecutionResult(ended, current, False, message, applied, plan.lines if changed else [])
        if changed and step.auto_revert_on_failure and current.state is StepState.FAILED:
            reverted = await rollback.perform(ctx, run, step, current, BOT_ACTOR)
            message += f" Reverted automatically: {reverted.message}"
            result = replace(result, lane=reverted.lane, message=message, rollback=reverted)
        elif changed:
            message += " Roll back to restore exactly: " + "; ".join(plan.lines)
            result = replace(result, message=message)
        else:
            message += " Nothing was changed."
            result = replace(result, message=message)
        await ctx.emit(run, "execution_finished", message, step.id, {"execution_id": execution.id, "ok": False})
        return result


_State = Literal["breach", "clear", "unknown"]


@dataclass(frozen=True)
class _Reading:
    condition: Condition
    state: _State
    result: CheckResult


def _text(condition: Condition) -> str:
    return condition.text or str(condition)


def _applied(records: list[TargetRecord]) -> list[TargetRecord]:
    return [r for r in records if r.mutating and r.status is TargetStatus.APPLIED]


async def accept_if_complete(ctx: Context, run: Run, step: Step, lane: StepLane, actor: Actor) -> tuple[StepLane, str]:
    """verifying -> done once verification passed and the checklist is complete or waived."""
    name = lane_name(lane)
    if lane.state is not StepState.VERIFYING:
        return lane, f"{name} is {lane.state.value}."
    execution = await ctx.store.get_execution(lane.last_execution_id) if lane.last_execution_id else None
    if execution is None or execution.state is not ExecutionState.SUCCEEDED:
        return lane, f"{name} is still verifying."
    if ctx.requires_checklist(step, lane.environment):
        status = await checklist.status(ctx, run.id, step.id, step.checklist)
        if not status.complete:
            waiting = f"verified; waiting for the checklist ({status.summary()})"
            lane = await _note(ctx, lane, waiting)
            return (
                lane,
                f"{name} verified; tick or waive the rest of its checklist to accept it ({status.summary()}).",
            )
    try:
        done = await ctx.lanes.transition(lane, StepState.DONE, actor, "verified and accepted")
    except Refused as refused:
        return lane, refused.message
    return done, f"{name} is done."


async def _note(ctx: Context, lane: StepLane, reason: str) -> StepLane:
    noted = replace(lane, reason=reason)
    return noted if await ctx.store.put_lane(noted, lane.state) else lane
