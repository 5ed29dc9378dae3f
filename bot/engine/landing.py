"""Windows that start when the change landed: a condition that reads the last D of a metric is
judged only once D has passed since the step's newest change landed, never over the time before it.

Used by the executor (metric gates between actions), the verification window and the acceptance
checks. The wait is a sleep on the engine's clock (scheduled on a virtual one); the execution's
lease keeps beating meanwhile and a rollback ends the wait at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.engine.context import Context
from bot.engine.lease import Lease
from bot.engine.ports import ProgressCallback
from bot.engine.records import TargetRecord, TargetStatus
from bot.runbook.conditions import Condition
from bot.runbook.durations import format_duration


def history_read(condition: Condition) -> timedelta:
    """How far back the condition reads: its ``for``/``over`` duration, nothing for a latest point."""
    if condition.mode in ("for", "over") and condition.window is not None:
        return condition.window
    return timedelta(0)


def landed_at(records: Iterable[TargetRecord]) -> datetime | None:
    """When the newest change of these records landed (its outcome was recorded); None if none changed."""
    times = [r.at for r in records if r.mutating and r.status is TargetStatus.APPLIED]
    return max(times) if times else None


async def wait_until_window(
    ctx: Context,
    since: datetime | None,
    span: timedelta,
    what: str,
    progress: ProgressCallback,
    lease: Lease,
) -> None:
    """Sleep until ``since + span`` so ``what`` reads only metrics from after the landing."""
    if since is None or span <= timedelta(0):
        return
    due = since + span
    left = (due - ctx.clock.now()).total_seconds()
    if left <= 0:
        return
    await progress(
        f"waiting until {ctx.show_time(due)} to read {what}: its {format_duration(span)} window starts when "
        f"the change landed ({ctx.show_time(since)}), not before"
    )
    await lease.interruptible(ctx.clock.sleep(left), f"reading {what}")
