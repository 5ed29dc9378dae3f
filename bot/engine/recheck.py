"""The metric re-check before a production run: a step's ``recheck:`` conditions are read again
when its run is requested or confirmed, because an approval given an hour ago was given to metrics
that may no longer hold. A failing (or unreadable) re-check expires the lane's approvals."""

from __future__ import annotations

from bot.engine import approvals
from bot.engine.context import Context
from bot.engine.ports import Actor, CheckResult
from bot.engine.records import Run, StepLane, StepState
from bot.engine.states import lane_name
from bot.runbook.models import Step


def _reading(result: CheckResult) -> str:
    """What the re-check read, for the reason: the figure, or "no data" (never healthy)."""
    return "no data" if result.value is None else f"{result.value:g}"


async def failed_recheck(ctx: Context, step: Step, lane: StepLane) -> str | None:
    """The first re-check condition that does not hold now, as a reason; None when all hold.

    Only production lanes are re-checked; a step without ``recheck:`` always passes."""
    if not step.recheck or not ctx.is_production(lane.environment):
        return None
    env = ctx.environment(lane.environment)
    for condition in step.recheck:
        result = await ctx.checker.check(condition, env, ctx.clock.now())
        if result.passed is not True:
            return f"metric re-check failed: {result.condition} read {_reading(result)}"
    return None


async def expire_approvals(ctx: Context, run: Run, step: Step, lane: StepLane, reason: str, actor: Actor) -> str:
    """Withdraw the lane's votes for ``reason`` (audited), step an approved lane back to ready with
    the reason (the card's lane line shows it), and return the sentence for the person."""
    withdrawn = await approvals.withdraw_all(ctx, lane, reason, actor)
    if lane.state is StepState.APPROVED:
        await ctx.lanes.transition(lane, StepState.READY, actor, f"approval expired: {reason}")
    if withdrawn:
        await ctx.emit(run, "step_changed", f"{lane_name(lane)}: approval expired ({reason}).", step.id)
    expired = f" {withdrawn} approval(s) expired; ask for approval again once it holds." if withdrawn else ""
    return f"{lane_name(lane)} was not run: {reason}.{expired} Nothing was run."
