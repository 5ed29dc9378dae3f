"""Crash recovery: reconcile every execution whose owner died mid-run, applying nothing.

Only executions whose lease expired are touched (lease.py): one still heartbeating belongs to a
live replica (Cloud Run overlaps instances during a deploy; a step soaks for 30 minutes) and is
left alone. An expired one is taken over with a conditional UPDATE first, so of several replicas
recovering at once exactly one reconciles it, and its old owner, should it wake, stops.

For each target whose snapshot was written but whose outcome was not, the live state is read
back: equal to the target (empty diff) means it landed, equal to the snapshot means it did not.
The lane ends ``failed`` and the revert stays available for whatever landed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.engine import targets as tg
from bot.engine.context import Context
from bot.engine.lease import Lease, lease_expired
from bot.engine.plan import bind_actions
from bot.engine.ports import BOT_ACTOR
from bot.engine.records import Execution, ExecutionState, StepState, TargetRecord, TargetStatus
from bot.engine.states import lane_name


@dataclass(frozen=True)
class Recovered:
    execution: Execution
    applied: int
    total: int
    message: str


@dataclass(frozen=True)
class RecoveryPass:
    """What one pass did: the executions it reconciled, and the live ones it left alone."""

    recovered: list[Recovered]
    left_alone: list[Execution]


async def recover(ctx: Context) -> list[Recovered]:
    """Reconcile the executions of dead owners (see ``recovery_pass``)."""
    return (await recovery_pass(ctx)).recovered


async def recovery_pass(ctx: Context) -> RecoveryPass:
    """Call on start, before taking commands, and then every lease (a replica may die any time)."""
    now = ctx.clock.now()
    stale_before = now - ctx.lease
    recovered: list[Recovered] = []
    left_alone: list[Execution] = []
    for execution in await ctx.store.unfinished_executions():
        if not lease_expired(execution, stale_before):
            left_alone.append(execution)
        elif await ctx.store.take_over(execution.id, ctx.owner, stale_before, now):
            taken = replace(execution, owner=ctx.owner, heartbeat_at=now)
            async with Lease(ctx.store, ctx.clock, execution.id, ctx.owner, ctx.lease).kept():
                recovered.append(await _reconcile(ctx, taken))
        else:  # its owner renewed it just now, or another replica's recovery took it first
            left_alone.append(execution)
    return RecoveryPass(recovered, left_alone)


async def _reconcile(ctx: Context, execution: Execution) -> Recovered:
    step = ctx.runbook.step(execution.step_id)
    run = await ctx.store.get_run(execution.run_id)
    records = await ctx.store.targets(execution.id)
    if step is not None:
        records = [await _settle_unknown(ctx, execution, record) for record in records]
    done = TargetStatus.REVERTED if execution.kind == "rollback" else TargetStatus.APPLIED
    landed = sum(1 for r in records if r.mutating and r.status is done)
    total = await _total_targets(ctx, execution) if step is not None else len(records)
    verb = "reverted" if execution.kind == "rollback" else "applied"
    what = "rollback interrupted" if execution.kind == "rollback" else "interrupted"
    reason = f"{what} by a restart; {landed} of {total} targets {verb}"
    ended = replace(execution, state=ExecutionState.INTERRUPTED, finished_at=ctx.clock.now(), message=reason)
    await ctx.store.save_execution(ended)
    lane = await ctx.store.get_lane(execution.run_id, execution.step_id, execution.environment)
    live_states = (StepState.RUNNING, StepState.VERIFYING, StepState.ROLLING_BACK)
    if lane is not None and lane.last_execution_id == execution.id and lane.state in live_states:
        lane = await ctx.lanes.transition(lane, StepState.FAILED, BOT_ACTOR, reason)
    name = f"{execution.step_id} ({execution.environment})" if lane is None else lane_name(lane)
    message = f"{name}: {reason}. Nothing was applied again; roll it back or run it again when ready."
    await ctx.auditor.record(
        BOT_ACTOR,
        "recovered",
        run_id=execution.run_id,
        step_id=execution.step_id,
        outcome="failed",
        detail=message,
    )
    if run is not None:
        await ctx.emit(run, "recovered", message, execution.step_id, {"execution_id": execution.id})
    return Recovered(ended, landed, total, message)


async def _settle_unknown(ctx: Context, execution: Execution, record: TargetRecord) -> TargetRecord:
    """Decide, by reading live state, whether a snapshotted-but-unfinished target landed."""
    if record.status is not TargetStatus.SNAPSHOTTED:
        return record
    if not record.mutating:
        return await tg.settle(ctx, record, TargetStatus.INTERRUPTED, "interrupted by a restart")
    step = ctx.runbook.step(execution.step_id)
    assert step is not None  # checked by the caller
    action, target = tg.rebind(ctx, step, execution.environment, record)
    live = await action.read_back(target)
    if execution.kind == "rollback":
        original = await _original(ctx, execution, record)
        if original is not None and live == original.snapshot:
            await tg.settle(ctx, original, TargetStatus.REVERTED, "reverted (confirmed after a restart)")
            return await tg.settle(ctx, record, TargetStatus.REVERTED, "reverted (confirmed after a restart)")
        return await tg.settle(ctx, record, TargetStatus.INTERRUPTED, "not reverted (found after a restart)")
    if not action.diff(target, live):
        return await tg.settle(ctx, record, TargetStatus.APPLIED, "applied (confirmed after a restart)")
    if live == record.snapshot:
        return await tg.settle(ctx, record, TargetStatus.INTERRUPTED, "not applied (found after a restart)")
    # Neither at target nor at the snapshot: treat as applied so the revert restores the snapshot.
    return await tg.settle(ctx, record, TargetStatus.APPLIED, "partly applied (found after a restart); revert it")


async def _original(ctx: Context, execution: Execution, record: TargetRecord) -> TargetRecord | None:
    if execution.reverts is None:
        return None
    for candidate in await ctx.store.targets(execution.reverts):
        if (candidate.action_index, candidate.target_key) == (record.action_index, record.target_key):
            return candidate
    return None


async def _total_targets(ctx: Context, execution: Execution) -> int:
    """Apply: the lane's mutating targets; rollback: the targets it set out to restore."""
    if execution.kind == "rollback" and execution.reverts:
        originals = await ctx.store.targets(execution.reverts)
        restorable = (TargetStatus.APPLIED, TargetStatus.REVERTED)
        return sum(1 for r in originals if r.mutating and r.status in restorable)
    step = ctx.runbook.step(execution.step_id)
    if step is None:
        return 0
    bound, _ = bind_actions(ctx, step, execution.environment)
    return sum(len(item.action.targets()) for item in bound if item.action.mutating)
