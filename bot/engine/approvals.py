"""Approvals by role with counts, four eyes in production, and withdrawal when the plan changes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from bot.engine.audit_kinds import AuditKind
from bot.engine.context import Context
from bot.engine.ports import Actor
from bot.engine.records import Approval, StepLane
from bot.runbook.models import Step

ANY_APPROVER = ""  # a need that anyone allowed to approve can meet


@dataclass(frozen=True)
class Need:
    role: str
    count: int

    def describe(self) -> str:
        who = "an approver" if self.role == ANY_APPROVER else self.role
        return f"{self.count} x {who}"


@dataclass(frozen=True)
class ApprovalStatus:
    needs: list[Need]
    active: list[Approval]
    missing: list[Need]
    rejected: Approval | None

    @property
    def satisfied(self) -> bool:
        return not self.missing and self.rejected is None

    def summary(self) -> str:
        if self.rejected is not None:
            return f"rejected by {self.rejected.name}: {self.rejected.reason}"
        if not self.missing:
            return "approved"
        return "still needs " + ", ".join(n.describe() for n in self.missing)

    def after_vote(self, step_id: str, environment: str) -> str:
        """What a person reads after voting: the lane as it now stands, in a whole sentence."""
        if self.satisfied:
            return f"Your approval of {step_id} ({environment}) is recorded; it is now approved and can be run."
        if self.rejected is not None:
            return f"Your approval of {step_id} ({environment}) is recorded; it was {self.summary()}."
        return f"Your approval of {step_id} ({environment}) is recorded; it {self.summary()}."


def needs(ctx: Context, step: Step, environment: str) -> list[Need]:
    """The step's approval rules; a production lane without rules still needs one other person."""
    rules = [Need(r.role, r.count) for r in step.approvals]
    if not rules and ctx.is_production(environment):
        rules = [Need(ANY_APPROVER, 1)]
    return rules


async def evaluate(
    ctx: Context, step: Step, lane: StepLane, fingerprint: str, excluding: str | None = None
) -> ApprovalStatus:
    """Active votes on ``fingerprint``; in production ``excluding`` (the requester) does not count."""
    rows = await ctx.store.approvals(lane.run_id, lane.step_id, lane.environment)
    active = [a for a in rows if a.active and a.plan_fingerprint == fingerprint]
    production = ctx.is_production(lane.environment)
    counted = [
        a for a in active if a.decision == "approved" and not (production and excluding and a.user_id == excluding)
    ]
    rejected = next((a for a in reversed(active) if a.decision == "rejected"), None)
    missing: list[Need] = []
    for need in needs(ctx, step, lane.environment):
        users = {a.user_id for a in counted if need.role in (ANY_APPROVER, a.role)}
        if len(users) < need.count:
            missing.append(Need(need.role, need.count - len(users)))
    return ApprovalStatus(needs(ctx, step, lane.environment), active, missing, rejected)


async def record(
    ctx: Context, lane: StepLane, actor: Actor, role: str, decision: str, fingerprint: str, reason: str | None
) -> Approval:
    """Store a vote; the voter's earlier active votes on the lane are superseded in the same
    transaction (the store's compare-and-set), so concurrent clicks leave one active vote."""
    vote = Approval(
        id=uuid.uuid4().hex,
        run_id=lane.run_id,
        step_id=lane.step_id,
        environment=lane.environment,
        role=role,
        user_id=actor.user_id,
        name=actor.name,
        decision=decision,
        at=ctx.clock.now(),
        plan_fingerprint=fingerprint,
        reason=reason,
    )
    async with ctx.unit_of_work():  # the vote and its audit entry, or neither
        await ctx.store.cast_vote(vote, f"superseded by a new {decision}")
        await ctx.auditor.record(
            actor,
            AuditKind.APPROVE if decision == "approved" else AuditKind.REJECT,
            run_id=lane.run_id,
            step_id=lane.step_id,
            environment=lane.environment,
            after=decision,
            detail=f"as {role} on plan {fingerprint}" + (f": {reason}" if reason else ""),
        )
    return vote


async def withdraw_stale(ctx: Context, lane: StepLane, fingerprint: str, actor: Actor) -> int:
    """Withdraw votes given to another plan; each withdrawal is audited. Returns how many."""
    withdrawn = 0
    for vote in await ctx.store.approvals(lane.run_id, lane.step_id, lane.environment):
        if vote.active and vote.plan_fingerprint != fingerprint:
            reason = f"the plan changed ({vote.plan_fingerprint} -> {fingerprint})"
            await _withdraw(ctx, lane, vote, reason, actor)
            withdrawn += 1
    return withdrawn


async def withdraw_all(ctx: Context, lane: StepLane, reason: str, actor: Actor) -> int:
    """Withdraw every active vote of the lane for ``reason`` (a failed metric re-check); audited."""
    active = [v for v in await ctx.store.approvals(lane.run_id, lane.step_id, lane.environment) if v.active]
    for vote in active:
        await _withdraw(ctx, lane, vote, reason, actor)
    return len(active)


async def _withdraw(ctx: Context, lane: StepLane, vote: Approval, reason: str, actor: Actor) -> None:
    async with ctx.unit_of_work():
        await ctx.store.save_approval(replace(vote, withdrawn_at=ctx.clock.now(), withdrawn_reason=reason))
        await ctx.auditor.record(
            actor,
            AuditKind.APPROVAL_WITHDRAWN,
            run_id=lane.run_id,
            step_id=lane.step_id,
            environment=lane.environment,
            before=f"{vote.decision} by {vote.name}",
            detail=reason,
        )
