"""Per-target bookkeeping shared by execution, rollback and recovery: write-ahead and restore lines."""

from __future__ import annotations

from dataclasses import replace

from bot.engine.context import Context
from bot.engine.plan import BoundAction, find_target
from bot.engine.ports import JSON, Action, Change, Target
from bot.engine.records import Execution, TargetRecord, TargetStatus
from bot.runbook.models import Step


async def write_ahead(
    ctx: Context, execution: Execution, seq: int, item: BoundAction, target: Target, snapshot: JSON
) -> TargetRecord:
    """Persist the target's snapshot BEFORE anything touches it: one store call, durable on return."""
    changes = [str(c) for c in item.action.diff(target, snapshot)] if item.action.mutating else []
    record = TargetRecord(
        execution_id=execution.id,
        seq=seq,
        action_index=item.index,
        action_line=item.line,
        target_key=target.key,
        target_label=target.label,
        snapshot=snapshot,
        status=TargetStatus.SNAPSHOTTED,
        at=ctx.clock.now(),
        changes=changes,
        mutating=item.action.mutating,
    )
    await ctx.store.save_target(record)
    return record


async def settle(ctx: Context, record: TargetRecord, status: TargetStatus, message: str | None) -> TargetRecord:
    done = replace(record, status=status, message=message, at=ctx.clock.now())
    await ctx.store.save_target(done)
    return done


def rebind(ctx: Context, step: Step, environment: str, record: TargetRecord) -> tuple[Action, Target]:
    """The live action and target a stored record refers to (after a restart, or for a revert)."""
    spec = step.actions[record.action_index]
    action = ctx.actions.build(spec, ctx.runbook, ctx.environment(environment))
    target = find_target(action, record.target_key) or Target(record.target_key, record.target_label)
    return action, target


def state_of(value: JSON) -> JSON:
    """A snapshot or read-back without its context keys (those starting with "_", such as the
    serving revision a traffic split was taken against): state that a restore brings back."""
    if isinstance(value, dict):
        return {key: item for key, item in value.items() if not str(key).startswith("_")}
    return value


def at_snapshot(live: JSON, snapshot: JSON) -> bool:
    """The target reads as it did when ``snapshot`` was taken (context keys aside)."""
    return bool(state_of(live) == state_of(snapshot))


def restore_changes(label: str, live: JSON, snapshot: JSON) -> list[Change]:
    """What restoring ``snapshot`` over ``live`` changes, field by field."""
    live, snapshot = state_of(live), state_of(snapshot)
    if isinstance(live, dict) and isinstance(snapshot, dict):
        keys = sorted(set(live) | set(snapshot))
        return [Change(label, k, live.get(k), snapshot.get(k)) for k in keys if live.get(k) != snapshot.get(k)]
    if live == snapshot:
        return []
    return [Change(label, "state", live, snapshot)]
