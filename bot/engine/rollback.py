"""Reverting a lane: applied targets back to their write-ahead snapshots, newest first, exactly once,
each read back after its write: "restored" is what the cloud shows, not what the update call said.

The preview reads live state now, so the person sees exactly what will be restored; the revert
itself is claimed like an execution, so a second click (or a second person) does nothing, and
holds a lease like one (lease.py), so it stops if recovery on another replica takes it over.

A target that *failed* is restored too when its live state has left its snapshot: an update that
outlasted its timeout ("it may still land") lands later, and the rollback must undo it as well.

Exact means every change still in place: those of every apply execution since the lane's last
completed rollback (a step that failed, then ran again), each target back to its EARLIEST snapshot.
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
from bot.engine.lease import Lease, describe_lease, held_here, lease_expired
from bot.engine.plan import BoundAction, fingerprint
from bot.engine.ports import BOT_ACTOR, JSON, Action, ActionFailed, Actor, Change, OneWay, Target
from bot.engine.records import (
    Execution,
    ExecutionState,
    Run,
    StepLane,
    StepState,
    TargetRecord,
    TargetStatus,
)
from bot.engine.states import REVERTIBLE, lane_name
from bot.runbook.models import Step

# How often a rollback looks whether another replica's executor has settled its in-flight target.
_IN_FLIGHT_POLL = timedelta(seconds=5)
_UNFINISHED = frozenset({ExecutionState.RUNNING, ExecutionState.VERIFYING})


@dataclass(frozen=True)
class RollbackPlan:
    run_id: str
    step_id: str
    environment: str
    production: bool
    execution_id: str | None
    changes: list[Change]
    targets: list[TargetRecord]
    already_rolled_back: bool = False
    unchanged: list[TargetRecord] = field(default_factory=list)  # failed targets still at their snapshot
    later: list[TargetRecord] = field(default_factory=list)  # later records of the restored targets
    runs: int = 1  # apply executions whose changes are restored
    refusals: list[str] = field(default_factory=list)  # changes no revert can undo (a promoted replica)

    @property
    def lines(self) -> list[str]:
        if self.refusals:
            return list(self.refusals)
        if self.already_rolled_back:
            return [f"{self.step_id} ({self.environment}) was already rolled back; nothing to restore."]
        untouched = [f"{r.target_label}: unchanged, nothing to restore" for r in self.unchanged]
        if not self.targets:
            return [f"{self.step_id} ({self.environment}) has no applied changes; nothing to restore.", *untouched]
        if not self.changes:
            return ["Every applied target is already back at its snapshot; the revert will change nothing.", *untouched]
        runs = []
        if self.runs > 1:
            runs = [f"(the changes of {self.runs} runs since the last rollback, back to before the first)"]
        return [str(c) for c in self.changes] + untouched + runs


@dataclass(frozen=True)
class RollbackResult:
    plan: RollbackPlan
    ok: bool
    message: str
    lane: StepLane
    execution: Execution | None = None
    reverted: list[TargetRecord] = field(default_factory=list)


async def applied_execution(ctx: Context, lane: StepLane) -> Execution | None:
    """The apply execution whose changes a rollback of ``lane`` would undo."""
    if lane.last_execution_id is None:
        return None
    execution = await ctx.store.get_execution(lane.last_execution_id)
    if execution is not None and execution.kind == "rollback" and execution.reverts:
        return await ctx.store.get_execution(execution.reverts)
    return execution


async def preview(ctx: Context, run: Run, step: Step, lane: StepLane) -> RollbackPlan:
    production = ctx.is_production(lane.environment)
    if lane.state is StepState.ROLLED_BACK:
        execution = await applied_execution(ctx, lane)
        return RollbackPlan(
            run.id, step.id, lane.environment, production, execution.id if execution else None, [], [], True
        )
    applies = await recovery.applies_in_place(ctx, run.id, step.id, lane.environment)
    restore, unchanged, later, changes = await _restorable(ctx, step, lane.environment, applies)
    refusals = await _refusals(ctx, step, lane.environment, restore)
    ids = {r.execution_id for r in [*restore, *later]}
    return RollbackPlan(
        run.id,
        step.id,
        lane.environment,
        production,
        applies[-1].id if applies else None,
        changes,
        restore,
        unchanged=unchanged,
        later=later,
        runs=max(1, len(ids)),
        refusals=refusals,
    )


async def _refusals(ctx: Context, step: Step, environment: str, restore: list[TargetRecord]) -> list[str]:
    """Why some of these changes cannot be undone at all (Cloud SQL cannot demote a promoted replica):
    then the rollback changes nothing, instead of undoing the rest around a change it cannot undo."""
    refusals: list[str] = []
    for record in restore:
        action, target = tg.rebind(ctx, step, environment, record)
        if isinstance(action, OneWay):
            refusal = action.revert_refusal(target, record.snapshot, await action.read_back(target))
            if refusal is not None:
                refusals.append(refusal)
    return refusals


async def _restorable(
    ctx: Context, step: Step, environment: str, applies: list[Execution]
) -> tuple[list[TargetRecord], list[TargetRecord], list[TargetRecord], list[Change]]:
    """Newest change first, one per target: the earliest record of each target to restore (its
    snapshot is the state before the first change), the failed ones found at their snapshot, the
    targets' later records, and the changes."""
    order = {e.id: i for i, e in enumerate(applies)}
    changed = await recovery.changed_records(ctx, applies)
    newest_first = sorted(
        changed.values(), key=lambda rs: max((order[r.execution_id], r.seq) for r in rs), reverse=True
    )
    restore: list[TargetRecord] = []
    unchanged: list[TargetRecord] = []
    later: list[TargetRecord] = []
    changes: list[Change] = []
    for records in newest_first:
        first = records[0]
        action, target = tg.rebind(ctx, step, environment, first)
        live = await action.read_back(target)
        restoring = tg.restore_changes(first.target_label, live, first.snapshot)
        if not restoring and all(r.status is not TargetStatus.APPLIED for r in records):
            unchanged.append(first)  # failed (or in flight) and still at its snapshot
            continue
        restore.append(first)
        later.extend(records[1:])
        changes.extend(restoring)
    return restore, unchanged, later, changes


async def changed_anything(ctx: Context, execution: Execution) -> bool:
    """True when a rollback of ``execution`` has (or had) something to restore; ``rollback last`` asks."""
    records = [r for r in await ctx.store.targets(execution.id) if r.mutating]
    if any(r.status in (TargetStatus.APPLIED, TargetStatus.REVERTED) for r in records):
        return True
    step = ctx.runbook.step(execution.step_id)
    if step is None or not any(r.status is TargetStatus.FAILED for r in records):
        return False
    restore, _, _, _ = await _restorable(ctx, step, execution.environment, [execution])
    return bool(restore)


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
    if not await ctx.store.claim_execution(execution, sorted(REVERTIBLE), StepState.ROLLING_BACK):
        current = await ctx.lanes.get(run.id, step.id, lane.environment)
        if current.state is StepState.ROLLED_BACK:
            return await _already(ctx, run, plan, current, actor)
        raise Refused(ctx.lanes.explain(current, StepState.ROLLING_BACK))
    await ctx.auditor.record(
        actor,
        AuditKind.STEP_STATE,
        run_id=run.id,
        step_id=step.id,
        environment=lane.environment,
        before=lane.state.value,
        after=StepState.ROLLING_BACK.value,
        detail="rollback claimed: " + "; ".join(plan.lines),
    )
    claimed = await ctx.lanes.get(run.id, step.id, lane.environment)
    lease = Lease(ctx.store, ctx.clock, execution.id, ctx.owner, ctx.lease)
    async with lease.kept():  # kept while a running executor is stopped too: that may take a while
        if await _stop_running(ctx, run, step, claimed, execution):
            plan = await preview(ctx, run, step, claimed)  # now with the in-flight targets settled
        await ctx.emit(run, "step_changed", f"Rolling back {lane_name(lane)}: " + "; ".join(plan.lines), step.id)
        return await _revert(ctx, run, step, claimed, execution, plan, actor, lease)


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
        held = held_here(running.id)
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
