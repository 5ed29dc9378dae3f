"""Reverting a lane: applied targets back to their write-ahead snapshots, newest first, exactly once,
each read back after its write: "restored" is what the cloud shows, not what the update call said.

The preview (rollback_plan.py) reads live state now, so the person sees exactly what will be
restored; the revert itself is claimed like an execution (the lane moves to rolling_back with its
audit entry in one transaction), so a second click (or a second person) does nothing, and holds a
lease like one (lease.py), so it stops if recovery on another replica takes it over.

A running lane may be rolled back too: the claim takes it from its executor, which stops (lease.py),
and the target it had in flight is waited for and settled as recovery does, before anything reverts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import timedelta

from bot.engine import recovery
from bot.engine import targets as tg
from bot.engine.audit_kinds import AuditKind
from bot.engine.context import Context
from bot.engine.errors import Refused
from bot.engine.lease import Lease, describe_lease, lease_expired
from bot.engine.plan import BoundAction, fingerprint
from bot.engine.ports import BOT_ACTOR, JSON, Action, ActionFailed, Actor, Target
from bot.engine.records import (
    Execution,
    ExecutionState,
    Run,
    StepLane,
    StepState,
    TargetRecord,
    TargetStatus,
)
from bot.engine.rollback_plan import RollbackPlan, applied_execution, changed_anything, preview
from bot.engine.states import REVERTIBLE, lane_name
from bot.runbook.models import Step

__all__ = ["RollbackPlan", "RollbackResult", "applied_execution", "changed_anything", "perform", "preview"]

# How often a rollback looks whether another replica's executor has settled its in-flight target.
_IN_FLIGHT_POLL = timedelta(seconds=5)
_UNFINISHED = frozenset({ExecutionState.RUNNING, ExecutionState.VERIFYING})
# How often a claim is tried again when the lane moved on meanwhile but can still be rolled back
# (running -> verifying -> done); each try follows a real move, so a few always suffice.
_CLAIM_TRIES = 4


@dataclass(frozen=True)
class RollbackResult:
    plan: RollbackPlan
    ok: bool
    message: str
    lane: StepLane
    execution: Execution | None = None
    reverted: list[TargetRecord] = field(default_factory=list)


async def perform(ctx: Context, run: Run, step: Step, lane: StepLane, actor: Actor) -> RollbackResult:
    """Claim the revert of ``lane`` and restore every applied target, newest first."""
    plan = await preview(ctx, run, step, lane)
    if plan.already_rolled_back:
        return await _already(ctx, run, plan, lane, actor)
    if plan.refusals:  # nothing is claimed or changed: the lane stays as it is
        raise Refused(f"{lane_name(lane)} cannot be rolled back: " + " ".join(plan.refusals))
    if lane.state not in REVERTIBLE:
        raise Refused(ctx.lanes.explain(lane, StepState.ROLLING_BACK))
    now = ctx.clock.now()
    execution = Execution(
        id=uuid.uuid4().hex,
        run_id=run.id,
        step_id=step.id,
        environment=lane.environment,
        kind="rollback",
        state=ExecutionState.RUNNING,
        requested_by=actor.user_id,
        plan_fingerprint=fingerprint(plan.lines, plan.changes),
        started_at=now,
        dry_run=run.dry_run,
        reverts=plan.execution_id,
        owner=ctx.owner,
        heartbeat_at=now,
    )
    taken = await _claim(ctx, lane, execution, actor, plan)
    if taken.state is StepState.ROLLED_BACK:  # another rollback finished it meanwhile
        return await _already(ctx, run, plan, taken, actor)
    claimed = await ctx.lanes.get(run.id, step.id, lane.environment)
    lease = Lease(ctx.store, ctx.clock, execution.id, ctx.owner, ctx.lease, ctx.leases)
    async with lease.kept():  # kept while a running executor is stopped too: that may take a while
        if await _stop_running(ctx, run, step, claimed, execution):
            plan = await preview(ctx, run, step, claimed)  # now with the in-flight targets settled
        await ctx.emit(run, "step_changed", f"Rolling back {lane_name(lane)}: " + "; ".join(plan.lines), step.id)
        return await _revert(ctx, run, step, claimed, execution, plan, actor, lease)


async def _claim(ctx: Context, lane: StepLane, execution: Execution, actor: Actor, plan: RollbackPlan) -> StepLane:
    """Move the lane to rolling_back with the rollback's execution and its audit entry, exactly once.

    A lane that moved on meanwhile and can still be rolled back (running -> verifying) is claimed from
    where it is now; one rolled back meanwhile comes back as it is; otherwise the move is refused.
    """
    detail = "rollback claimed: " + "; ".join(plan.lines)
    for _ in range(_CLAIM_TRIES):
        moved = await ctx.lanes.claim(lane, execution, StepState.ROLLING_BACK, actor, detail)
        if moved is not None:
            return moved
        lane = await ctx.lanes.get(lane.run_id, lane.step_id, lane.environment)
        if lane.state not in REVERTIBLE:
            break
    if lane.state is StepState.ROLLED_BACK:
        return lane
    raise Refused(ctx.lanes.explain(lane, StepState.ROLLING_BACK))


async def _stop_running(ctx: Context, run: Run, step: Step, lane: StepLane, rollback: Execution) -> bool:
    """Take the lane's unfinished apply executions from their executor; True when there was one.

    Taking over moves the owner away, so the executor's next lease check stops it wherever it runs;
    here in this process it is stopped at once and awaited. A target it had in flight is waited for
    (another replica's executor records its outcome right after it returns), then settled from live
    state exactly as crash recovery settles one.
    """
    stopped = False
    for running in await recovery.applies_in_place(ctx, run.id, step.id, lane.environment):
        if running.state is ExecutionState.WAITING:  # no executor works on it: end its wait
            reason = f"stopped waiting: rolled back (execution {rollback.id[:8]})"
            await ctx.store.save_execution(
                replace(running, state=ExecutionState.INTERRUPTED, finished_at=ctx.clock.now(), message=reason)
            )
            continue
        if running.state not in _UNFINISHED:
            continue
        now = ctx.clock.now()
        alive = not lease_expired(running, now - ctx.lease)
        owner = f"{ctx.owner}/rollback:{rollback.id}"
        if not await ctx.store.take_over(running.id, owner, now + timedelta(seconds=1), now):
            continue  # it finished on its own just now
        stopped = True
        held = ctx.leases.held(running.id)
        if held is not None:
            held.revoke()
            await held.released()
        elif alive:
            await _await_in_flight(ctx, running)
        for record in await ctx.store.targets(running.id):
            await recovery.settle_unknown(ctx, running, record, cause="the rollback")
        reason = f"stopped by the rollback of {lane_name(lane)} (execution {rollback.id[:8]})"
        ended = replace(running, state=ExecutionState.INTERRUPTED, finished_at=ctx.clock.now(), message=reason)
        await ctx.store.save_execution(ended)
        await ctx.auditor.record(
            BOT_ACTOR,
            AuditKind.EXECUTION_STOPPED,
            run_id=run.id,
            step_id=step.id,
            environment=lane.environment,
            before=running.state.value,
            after=ExecutionState.INTERRUPTED.value,
            detail=reason,
        )
    return stopped


async def _await_in_flight(ctx: Context, running: Execution) -> None:
    """Give another replica's executor one lease to record the outcome of the update it has in flight."""
    deadline = ctx.clock.now() + ctx.lease
    while ctx.clock.now() < deadline:
        records = await ctx.store.targets(running.id)
        if not any(r.mutating and r.status is TargetStatus.SNAPSHOTTED for r in records):
            return
        await ctx.clock.sleep(_IN_FLIGHT_POLL.total_seconds())


async def _already(ctx: Context, run: Run, plan: RollbackPlan, lane: StepLane, actor: Actor) -> RollbackResult:
    message = f"{lane_name(lane)} was already rolled back; nothing was changed."
    await ctx.auditor.record(
        actor,
        AuditKind.ROLLBACK_NO_OP,
        run_id=run.id,
        step_id=lane.step_id,
        environment=lane.environment,
        detail=message,
    )
    return RollbackResult(replace(plan, already_rolled_back=True), True, message, lane)


async def _revert(
    ctx: Context,
    run: Run,
    step: Step,
    lane: StepLane,
    execution: Execution,
    plan: RollbackPlan,
    actor: Actor,
    lease: Lease,
) -> RollbackResult:
    name = lane_name(lane)

    async def progress(text: str) -> None:
        # the execution id files these lines under the rollback's own progress message (with its environment)
        await ctx.emit(
            run, "execution_progress", f"Rollback of {name}: {text}", step.id, {"execution_id": execution.id}
        )

    reverted: list[TargetRecord] = []  # ``lease`` is kept by the caller for the whole rollback
    for seq, original in enumerate(plan.targets):
        if not await lease.confirm():  # recovery on another replica took the rollback over
            return await _stopped(ctx, run, lane, execution, plan, reverted, original)
        action, target = tg.rebind(ctx, step, lane.environment, original)
        live = await action.read_back(target)
        item = BoundAction(original.action_index, action, original.action_line)
        record = await tg.write_ahead(ctx, execution, seq, item, target, live)
        if execution.dry_run:
            await tg.settle(ctx, record, TargetStatus.SKIPPED, "dry run: not reverted")
            await progress(f"would restore {original.target_label}")
            continue
        try:
            outcome = await action.revert(target, original.snapshot, progress)
            if not outcome.ok:
                raise ActionFailed(outcome.message)
            await _confirm_restored(action, target, original)
        except ActionFailed as exc:
            await tg.settle(ctx, record, TargetStatus.FAILED, exc.message)
            return await _failed(ctx, run, step, lane, execution, plan, reverted, original, exc.message, actor)
        await tg.settle(ctx, record, TargetStatus.REVERTED, outcome.message)
        reverted.append(await tg.settle(ctx, original, TargetStatus.REVERTED, outcome.message))
        for same in plan.later:  # the target's later records (a re-run) are restored with it
            if (same.action_index, same.target_key) == (original.action_index, original.target_key):
                await tg.settle(ctx, same, TargetStatus.REVERTED, outcome.message)
        await progress(f"restored {original.target_label}")
    if not await lease.confirm():
        return await _stopped(ctx, run, lane, execution, plan, reverted, None)
    finished = replace(execution, state=ExecutionState.SUCCEEDED, finished_at=ctx.clock.now(), message="rolled back")
    await ctx.store.save_execution(finished)
    done = await ctx.lanes.transition(lane, StepState.ROLLED_BACK, actor, f"rolled back by {actor.name}")
    message = f"{name} rolled back: {len(reverted)} target(s) restored to their snapshots and read back."
    if execution.dry_run:
        count = len(plan.targets)
        message = f"{name} rollback rehearsed: {count} target(s) would be restored; nothing was changed."
    await ctx.emit(run, "rollback_finished", message, step.id, {"execution_id": execution.id})
    return RollbackResult(plan, True, message, done, finished, reverted)


async def _confirm_restored(action: Action, target: Target, original: TargetRecord) -> None:
    """Read the target back: "restored" is what the cloud shows now, not what the update call said."""
    after = await action.read_back(target)
    if not tg.at_snapshot(after, original.snapshot):
        raise ActionFailed(
            f"{original.target_label} was written back but now reads {_shown(tg.state_of(after))}, not its "
            f"snapshot {_shown(tg.state_of(original.snapshot))}: something else wrote to it after the restore."
        )


def _shown(state: JSON) -> str:
    if isinstance(state, dict):
        return "{" + ", ".join(f"{key} {value}" for key, value in state.items()) + "}"
    return str(state)


async def _stopped(
    ctx: Context,
    run: Run,
    lane: StepLane,
    execution: Execution,
    plan: RollbackPlan,
    reverted: list[TargetRecord],
    next_target: TargetRecord | None,
) -> RollbackResult:
    """Recovery elsewhere owns the rollback's records now: report, write nothing."""
    left = _still_changed(plan, reverted)
    where = f"before {next_target.target_label}" if next_target is not None else "before finishing"
    message = (
        f"Rollback of {lane_name(lane)} stopped {where}: crash recovery on another replica took it over "
        f"(its heartbeat looked older than the {describe_lease(ctx.lease)} lease), so nothing more was changed "
        f"here. Restored: {_labels(reverted) or 'nothing'}. "
        f"Still changed: {', '.join(left) or 'nothing'}. Check the lane, then roll back again."
    )
    current = await ctx.lanes.get(run.id, lane.step_id, lane.environment)
    stored = await ctx.store.get_execution(execution.id) or execution
    await ctx.auditor.record(
        BOT_ACTOR,
        AuditKind.LEASE_LOST,
        run_id=run.id,
        step_id=lane.step_id,
        environment=lane.environment,
        outcome="failed",
        detail=message,
    )
    await ctx.emit(run, "rollback_finished", message, lane.step_id, {"execution_id": execution.id, "ok": False})
    return RollbackResult(plan, False, message, current, stored, reverted)


async def _failed(
    ctx: Context,
    run: Run,
    step: Step,
    lane: StepLane,
    execution: Execution,
    plan: RollbackPlan,
    reverted: list[TargetRecord],
    failed_at: TargetRecord,
    reason: str,
    actor: Actor,
) -> RollbackResult:
    left = _still_changed(plan, reverted)
    message = (
        f"Rollback of {lane_name(lane)} stopped at {failed_at.target_label}: {reason} "
        f"Restored: {_labels(reverted) or 'nothing'}. "
        f"Still changed: {', '.join(left)}. Fix the cause and roll back again; restored targets are kept."
    )
    failed = replace(execution, state=ExecutionState.FAILED, finished_at=ctx.clock.now(), message=message)
    await ctx.store.save_execution(failed)
    moved = await ctx.lanes.transition(lane, StepState.FAILED, actor, message)
    await ctx.emit(run, "rollback_finished", message, step.id, {"execution_id": execution.id, "ok": False})
    return RollbackResult(plan, False, message, moved, failed, reverted)


def _labels(records: list[TargetRecord]) -> str:
    """The targets' labels, each once (two actions on one service restore it twice)."""
    return ", ".join(dict.fromkeys(r.target_label for r in records))


def _still_changed(plan: RollbackPlan, reverted: list[TargetRecord]) -> list[str]:
    """The plan's targets not yet restored (by key: a restored record is a settled copy, not equal)."""
    done = {(r.action_index, r.target_key) for r in reverted}
    left = [r.target_label for r in plan.targets if (r.action_index, r.target_key) not in done]
    return list(dict.fromkeys(left))  # two actions on one service name it once
