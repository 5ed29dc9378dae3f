"""What a rollback of a lane would restore, read from live state now: the preview a person confirms,
and the plan ``rollback.perform`` then carries out (rollback.py says how it restores exactly).

Exact means every change still in place: those of every apply execution since the lane's last
completed rollback, each target back to its EARLIEST snapshot, newest change first. A target that
failed counts too when its live state has left its snapshot (an update that outlasted its timeout).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.engine import recovery
from bot.engine import targets as tg
from bot.engine.context import Context
from bot.engine.ports import Change, OneWay
from bot.engine.records import Execution, Run, StepLane, StepState, TargetRecord, TargetStatus
from bot.runbook.models import Step


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
