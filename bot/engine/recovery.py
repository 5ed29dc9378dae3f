"""Crash recovery: reconcile every execution whose owner died mid-run, applying nothing.

Only executions whose lease expired are touched (lease.py): one still heartbeating belongs to a
live replica (Cloud Run overlaps instances during a deploy; a step soaks for 30 minutes) and is
left alone. An expired one is taken over with a conditional UPDATE first, so of several replicas
recovering at once exactly one reconciles it, and its old owner, should it wake, stops.

For each target whose snapshot was written but whose outcome was not, the live state is read
back: equal to the target (empty diff) means it landed, equal to the snapshot means it did not.
The lane ends ``failed`` and the revert stays available for whatever landed. A rollback that takes
a running lane over settles the target its executor had in flight with the same rule (rollback.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.engine import targets as tg
from bot.engine.audit_kinds import AuditKind
from bot.engine.context import Context
from bot.engine.lease import Lease, lease_expired
from bot.engine.plan import bind_actions
from bot.engine.ports import BOT_ACTOR
from bot.engine.records import Execution, ExecutionState, StepState, TargetRecord, TargetStatus
from bot.engine.states import lane_name

# Target outcomes that changed live state or may have: applied, failed (a timeout may land), in flight.
_CHANGING = frozenset({TargetStatus.APPLIED, TargetStatus.FAILED, TargetStatus.SNAPSHOTTED})
# Why an execution was left unfinished: its owner died (a restart), or it gave up here because the
# store could not be written (LeaseRegistry.abandon); the messages people read name the right one.
RESTART = "a restart"
OUTAGE = "a database outage"


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
        # An executor alive in this process (its beats were refused during a database outage, say)
        # resumes by itself; one that gave up here for the same reason is settled without waiting.
        abandoned = ctx.leases.abandoned(execution.id) and execution.owner == ctx.owner
        held = ctx.leases.held(execution.id)
        live_here = held is not None and held.owner == ctx.owner and not held.lost
        # An abandoned one is taken only while its heartbeat is still the one read here: should
        # another replica's recovery take it meanwhile, its fresh heartbeat makes this take fail.
        before = _just_after(execution) if abandoned else stale_before
        if live_here or not (abandoned or lease_expired(execution, stale_before)):
            left_alone.append(execution)
        elif await ctx.store.take_over(execution.id, ctx.owner, before, now):
            taken = replace(execution, owner=ctx.owner, heartbeat_at=now)
            cause = OUTAGE if abandoned else RESTART
            async with Lease(ctx.store, ctx.clock, execution.id, ctx.owner, ctx.lease, ctx.leases).kept():
                recovered.append(await _reconcile(ctx, taken, cause))
            ctx.leases.settled(execution.id)
        else:  # its owner renewed it just now, or another replica's recovery took it first
            left_alone.append(execution)
    return RecoveryPass(recovered, left_alone)


def _just_after(execution: Execution) -> datetime:
    return (execution.heartbeat_at or execution.started_at) + timedelta(microseconds=1)


async def _reconcile(ctx: Context, execution: Execution, cause: str = RESTART) -> Recovered:
    step = ctx.runbook.step(execution.step_id)
    run = await ctx.store.get_run(execution.run_id)
    records = await ctx.store.targets(execution.id)
    if step is not None:
        records = [await settle_unknown(ctx, execution, record, cause) for record in records]
    done = TargetStatus.REVERTED if execution.kind == "rollback" else TargetStatus.APPLIED
    landed = sum(1 for r in records if r.mutating and r.status is done)
    total = await _total_targets(ctx, execution) if step is not None else len(records)
    verb = "reverted" if execution.kind == "rollback" else "applied"
    stopped = "stopped" if cause == OUTAGE else "interrupted"  # an outage stopped it; nothing restarted
    what = f"rollback {stopped}" if execution.kind == "rollback" else stopped
    reason = f"{what} by {cause}; {landed} of {total} targets {verb}"
    ended = replace(execution, state=ExecutionState.INTERRUPTED, finished_at=ctx.clock.now(), message=reason)
    await ctx.store.save_execution(ended)
    lane = await ctx.store.get_lane(execution.run_id, execution.step_id, execution.environment)
    # WAITING too: a Done that resumed the execution and died before moving the lane on.
    live_states = (StepState.RUNNING, StepState.WAITING, StepState.VERIFYING, StepState.ROLLING_BACK)
    if lane is not None and lane.last_execution_id == execution.id and lane.state in live_states:
        lane = await ctx.lanes.transition(lane, StepState.FAILED, BOT_ACTOR, reason)
    name = f"{execution.step_id} ({execution.environment})" if lane is None else lane_name(lane)
    message = f"{name}: {reason}. Nothing was applied again; roll it back or run it again when ready."
    await ctx.auditor.record(
        BOT_ACTOR,
        AuditKind.RECOVERED,
        run_id=execution.run_id,
        step_id=execution.step_id,
        outcome="failed",
        detail=message,
    )
    if run is not None:
        await ctx.emit(run, "recovered", message, execution.step_id, {"execution_id": execution.id})
    return Recovered(ended, landed, total, message)


async def settle_unknown(
    ctx: Context, execution: Execution, record: TargetRecord, cause: str = RESTART
) -> TargetRecord:
    """Decide, by reading live state, whether a snapshotted-but-unfinished target landed."""
    if record.status is not TargetStatus.SNAPSHOTTED:
        return record
    if not record.mutating:
        return await tg.settle(ctx, record, TargetStatus.INTERRUPTED, f"interrupted by {cause}")
    step = ctx.runbook.step(execution.step_id)
    assert step is not None  # checked by the caller
    action, target = tg.rebind(ctx, step, execution.environment, record)
    live = await action.read_back(target)
    if execution.kind == "rollback":
        originals = await _originals(ctx, execution, record)
        if originals and tg.at_snapshot(live, originals[0].snapshot):
            for original in originals:
                await tg.settle(ctx, original, TargetStatus.REVERTED, f"reverted (confirmed after {cause})")
            return await tg.settle(ctx, record, TargetStatus.REVERTED, f"reverted (confirmed after {cause})")
        return await tg.settle(ctx, record, TargetStatus.INTERRUPTED, f"not reverted (found after {cause})")
    if not action.diff(target, live):
        return await tg.settle(ctx, record, TargetStatus.APPLIED, f"applied (confirmed after {cause})")
    if tg.at_snapshot(live, record.snapshot):
        return await tg.settle(ctx, record, TargetStatus.INTERRUPTED, f"not applied (found after {cause})")
    # Neither at target nor at the snapshot: treat as applied so the revert restores the snapshot.
    return await tg.settle(ctx, record, TargetStatus.APPLIED, f"partly applied (found after {cause}); revert it")


async def applies_in_place(ctx: Context, run_id: str, step_id: str, environment: str) -> list[Execution]:
    """The lane's apply executions since its last completed rollback, oldest first: what a rollback undoes.

    An apply that started at the very instant of that rollback (a virtual clock ties them) counts
    too: whatever the rollback restored is settled ``reverted`` already, so nothing is restored twice.
    """
    lane = [e for e in await ctx.store.executions(run_id) if (e.step_id, e.environment) == (step_id, environment)]
    completed = [e for e in lane if e.kind == "rollback" and e.state is ExecutionState.SUCCEEDED and not e.dry_run]
    since = completed[-1] if completed else None
    return [
        e
        for e in lane
        if e.kind == "apply" and (since is None or (e.started_at >= since.started_at and e.id != since.reverts))
    ]


async def changed_records(ctx: Context, applies: list[Execution]) -> dict[tuple[int, str], list[TargetRecord]]:
    """Per (action, target), oldest first, the records of ``applies`` that changed it (or may have).

    The first one's snapshot is the state before the first change: what an exact rollback restores.
    """
    found: dict[tuple[int, str], list[TargetRecord]] = {}
    for execution in applies:
        for record in await ctx.store.targets(execution.id):
            if not record.mutating or record.status not in _CHANGING:
                continue
            if record.status is TargetStatus.FAILED and record.snapshot is None:
                continue  # failed before its snapshot was read: nothing to restore it to
            found.setdefault((record.action_index, record.target_key), []).append(record)
    return found


async def _originals(ctx: Context, execution: Execution, record: TargetRecord) -> list[TargetRecord]:
    """The apply records a rollback's target restores, oldest first (the first holds the snapshot)."""
    applies = await applies_in_place(ctx, execution.run_id, execution.step_id, execution.environment)
    return (await changed_records(ctx, applies)).get((record.action_index, record.target_key), [])


async def _total_targets(ctx: Context, execution: Execution) -> int:
    """Apply: the lane's mutating targets; rollback: the targets it set out to restore."""
    if execution.kind == "rollback":
        applies = await applies_in_place(ctx, execution.run_id, execution.step_id, execution.environment)
        restorable = (TargetStatus.APPLIED, TargetStatus.REVERTED)
        keys = {
            (r.action_index, r.target_key)
            for applied in applies
            for r in await ctx.store.targets(applied.id)
            if r.mutating and r.status in restorable
        }
        return len(keys)
    step = ctx.runbook.step(execution.step_id)
    if step is None:
        return 0
    bound, _ = bind_actions(ctx, step, execution.environment)
    return sum(len(item.action.targets()) for item in bound if item.action.mutating)
