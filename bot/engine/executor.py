"""Running a claimed lane: write-ahead, apply target by target, verify, watch, accept or fail.

Each target's snapshot is committed (one store call) before its apply starts, and its outcome
is committed right after, so a crash at any point leaves a record ``recovery.py`` can reconcile.
While it runs, the execution's lease is renewed (lease.py) and confirmed before every target: if
recovery on another replica took it over, the executor stops there and writes nothing more.
A BaseException (cancellation, a killed process) is deliberately not caught: the records stay
as they are and recovery decides what landed.

A rollback may take the lane over while it runs (rollback.py): the executor's waits (a ``wait``
action, the verification window in verification.py) end at once, a cloud update in flight is let
finish and recorded, and the executor stops there and writes nothing more; the rollback owns the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bot.engine import checklist, manual, rollback
from bot.engine.audit_kinds import AuditKind
from bot.engine.context import Context
from bot.engine.errors import Refused, StoreUnavailable
from bot.engine.landing import landed_at, wait_until_window
from bot.engine.lease import Lease, LeaseLost, describe_lease
from bot.engine.plan import BoundAction, bind_actions
from bot.engine.ports import (
    BOT_ACTOR,
    JSON,
    ActionFailed,
    Actor,
    Outcome,
    ProgressCallback,
    ReadsAfterChange,
    Target,
)
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
from bot.engine.verification import StepFailed, watch_and_accept
from bot.runbook.models import Manual, Step

# Target outcomes after which an action needs nothing more (a resumed execution skips it).
_SETTLED = frozenset({TargetStatus.APPLIED, TargetStatus.UNCHANGED, TargetStatus.SKIPPED})


@dataclass(frozen=True)
class ExecutionResult:
    execution: Execution
    lane: StepLane
    ok: bool
    message: str
    applied: list[TargetRecord] = field(default_factory=list)
    revert_lines: list[str] = field(default_factory=list)
    rollback: rollback.RollbackResult | None = None


class Executor:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def execute(
        self, run: Run, step: Step, lane: StepLane, execution: Execution, actor: Actor, resume: bool = False
    ) -> ExecutionResult:
        """Carry a claimed execution (lane already ``running``) to done, failed or waiting for a person.

        ``resume``: the execution waited at a manual action and was claimed back; the actions it
        settled before are not run again. If the store cannot be written at a step that needs it,
        the executor stops there and leaves the execution to crash recovery, which settles it from
        live state once the store is back.
        """
        try:
            return await self._execute(run, step, lane, execution, actor, resume)
        except StoreUnavailable:
            self._ctx.leases.abandon(execution.id)
            raise

    async def _execute(
        self, run: Run, step: Step, lane: StepLane, execution: Execution, actor: Actor, resume: bool
    ) -> ExecutionResult:
        ctx = self._ctx
        name = lane_name(lane)
        records: list[TargetRecord] = list(await ctx.store.targets(execution.id)) if resume else []

        async def progress(text: str) -> None:
            await ctx.emit(run, "execution_progress", f"{name}: {text}", step.id, {"execution_id": execution.id})

        bound, skipped = bind_actions(ctx, step, lane.environment)
        for line in [] if resume else skipped:
            await progress(f"skipped {line}")
        lease = Lease(ctx.store, ctx.clock, execution.id, ctx.owner, ctx.lease, ctx.leases)
        async with lease.kept():
            try:
                for item in bound:
                    if resume and _settled(item, records):
                        continue
                    if isinstance(step.actions[item.index], Manual):
                        await progress(await manual.settle_or_wait(ctx, step, execution, item, records))
                        continue
                    if isinstance(item.action, ReadsAfterChange) and not execution.dry_run:
                        since = landed_at(records)
                        await wait_until_window(ctx, since, item.action.history(), item.line, progress, lease)
                    await progress(f"{'would run' if execution.dry_run else 'running'}: {item.line}")
                    first = len(records)
                    await self._apply_action(execution, item, records, progress, lease)
                    # Verified right away: a later action of the step (25% then 50%) may move the
                    # same field on, so checking every action only at the end would fail the earlier.
                    if not execution.dry_run:
                        await self._verify(bound, records[first:])
                await lease.require("verification")
                lane, execution = await self._enter_verifying(lane, execution, actor)
                await watch_and_accept(ctx, run, step, lane, progress, lease, landed_at(records))
                await lease.require("accepting the step")
            except manual.AwaitingPerson as waiting:
                await progress(waiting.message)
                return await self._wait(run, step, lane, execution, records, waiting, actor)
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
                outcome = await self._run_apply(item, target, snapshot, progress, lease)
            except LeaseLost:
                raise  # a wait taken over mid-way: the new owner settles its record
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
            said = outcome.message  # most actions name their target already; never twice
            await progress(said if said.startswith(target.label) else f"{target.label}: {said}")

    async def _run_apply(
        self, item: BoundAction, target: Target, snapshot: JSON, progress: ProgressCallback, lease: Lease
    ) -> Outcome:
        """A change runs to its end (its outcome must be known); a wait or a probe ends when the lease is lost."""
        work = item.action.apply(target, snapshot, progress)
        if item.action.mutating:
            return await work
        return await lease.interruptible(work, f"the end of {target.label}")

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
        try:
            moved = await self._ctx.lanes.transition(lane, StepState.VERIFYING, actor, "applied; verifying")
        except Refused as refused:  # a rollback claimed the lane after the last check
            raise LeaseLost("verification") from refused
        verifying = replace(execution, state=ExecutionState.VERIFYING)
        await self._ctx.store.save_execution(verifying)
        return moved, verifying

    async def _wait(
        self,
        run: Run,
        step: Step,
        lane: StepLane,
        execution: Execution,
        records: list[TargetRecord],
        waiting: manual.AwaitingPerson,
        actor: Actor,
    ) -> ExecutionResult:
        """running -> waiting: nothing more runs until the named person's Done claims the lane back."""
        ctx = self._ctx
        current = await ctx.lanes.get(run.id, step.id, lane.environment)
        reason = manual.waiting_text(ctx, waiting.item)
        try:
            moved = await ctx.lanes.transition(current, StepState.WAITING, actor, reason)
        except Refused:  # a rollback claimed the lane meanwhile
            return await self._stopped(run, step, lane, execution, records, "waiting for a person")
        paused = replace(execution, state=ExecutionState.WAITING, message=reason)
        await ctx.store.save_execution(paused)
        await ctx.emit(run, "step_changed", waiting.message, step.id, {"execution_id": execution.id})
        return ExecutionResult(paused, moved, True, waiting.message, _applied(records))

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
            return await self._stopped(run, step, lane, execution, records, "accepting the step")
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
        """A rollback, or recovery on another replica, took the execution over: it owns the records now."""
        ctx = self._ctx
        applied = _applied(records)
        current = await ctx.lanes.get(run.id, step.id, lane.environment)
        stored = await ctx.store.get_execution(execution.id) or execution
        listed = ", ".join(r.target_label for r in applied) or "nothing"
        rolled_back = current.last_execution_id != execution.id and current.state in _ROLLBACK_STATES
        if rolled_back:
            what = AuditKind.STOPPED_FOR_ROLLBACK
            message = (
                f"{lane_name(lane)} stopped before {before}: a rollback took the lane over, so nothing more was "
                f"changed here. Applied before stopping: {listed}. The rollback restores it; the lane is "
                f"{current.state.value}."
            )
        else:
            what = AuditKind.LEASE_LOST
            message = (
                f"{lane_name(lane)} stopped before {before}: crash recovery on another replica took this execution "
                f"over (its heartbeat looked older than the {describe_lease(ctx.lease)} lease), so nothing more was "
                f"changed here. Applied before stopping: {listed}. The lane is {current.state.value}; check what "
                "landed, then roll back or run it again."
            )
        await ctx.auditor.record(
            BOT_ACTOR,
            what,
            run_id=run.id,
            step_id=step.id,
            environment=lane.environment,
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
        if changed and plan.refusals:
            message += " " + " ".join(plan.refusals)
            result = replace(result, message=message)
        elif changed and step.auto_revert_on_failure and current.state is StepState.FAILED:
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


_ROLLBACK_STATES = frozenset({StepState.ROLLING_BACK, StepState.ROLLED_BACK})


def _settled(item: BoundAction, records: list[TargetRecord]) -> bool:
    done = {r.target_key for r in records if r.action_index == item.index and r.status in _SETTLED}
    return all(t.key in done for t in item.action.targets())


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
        items = [item for group in step.lane_checklists(lane.environment) for item in group.items]
        status = await checklist.status(ctx, run.id, step.id, items)
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
