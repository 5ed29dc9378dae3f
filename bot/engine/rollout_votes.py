"""Plans and votes of the Rollout facade: the fresh plan, approve and reject, and the four-eyes
check before a production run is offered for confirmation (its refusal audited here, not in chat)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine import approvals, guards
from bot.engine.audit_kinds import AuditKind
from bot.engine.errors import Refused
from bot.engine.plan import Plan, build_plan
from bot.engine.ports import Actor
from bot.engine.records import Run, StepLane, StepState
from bot.engine.rollout_gates import GateCommands
from bot.engine.states import lane_name
from bot.runbook.models import Step


@dataclass(frozen=True)
class Preflight:
    """Whether a production run may be offered for typed confirmation, and if not, the sentence why."""

    ready: bool
    refusal: str | None = None


class Votes(GateCommands):
    async def _fresh_plan(self, run: Run, step: Step, lane: StepLane, actor: Actor) -> Plan:
        """Build the plan now; votes on another plan are withdrawn and the lane steps back."""
        plan = await build_plan(self._ctx, run.id, run.dry_run, step, lane.environment)
        async with self._ctx.unit_of_work():  # after the live reads: the withdrawals and the lane's step back
            withdrawn = await approvals.withdraw_stale(self._ctx, lane, plan.fingerprint, actor)
            if withdrawn and lane.state is StepState.APPROVED:
                await self._ctx.lanes.transition(lane, StepState.READY, actor, "the plan changed; approvals withdrawn")
                await self._ctx.emit(
                    run,
                    "step_changed",
                    f"{lane_name(lane)}: the plan changed, so approvals were withdrawn.",
                    step.id,
                )
        return plan

    async def plan(self, channel: str, step_id: str, env: str, actor: Actor) -> Plan:
        run, step = await self.command_step(channel, step_id, actor, AuditKind.PLAN)
        async with self._audited(actor, AuditKind.PLAN, run, step_id):
            guards.check_environment(step, env)
        lane = await self._ctx.lanes.get(run.id, step.id, env)
        return await self._fresh_plan(run, step, lane, actor)

    async def _vote(
        self, channel: str, step_id: str, env: str, actor: Actor, decision: str, reason: str | None
    ) -> approvals.ApprovalStatus:
        ctx = self._ctx
        what = AuditKind.APPROVE if decision == "approved" else AuditKind.REJECT
        run, step = await self.command_step(channel, step_id, actor, what)
        async with self._audited(actor, what, run, step_id):
            guards.check_environment(step, env)
            guards.require(ctx, actor, "approve")
            lane = await ctx.lanes.get(run.id, step.id, env)
            if lane.state not in (
                StepState.PENDING,
                StepState.READY,
                StepState.APPROVED,
                StepState.FAILED,
                StepState.ROLLED_BACK,
            ):
                raise Refused(ctx.lanes.explain(lane, StepState.APPROVED))
            if decision == "rejected" and not (reason and reason.strip()):
                raise Refused(f"Rejecting {lane_name(lane)} needs a reason, so the requester knows what to change.")
            if ctx.is_production(env) and lane.requested_by == actor.user_id:
                raise Refused(
                    f"{actor.name} asked to run {lane_name(lane)}, so {actor.name} cannot also approve it: "
                    "production needs four eyes. Ask another approver; nothing was changed."
                )
            plan = await self._fresh_plan(run, step, lane, actor)
            lane = await ctx.lanes.get(run.id, step.id, env)
            role = _voting_role(approvals.needs(ctx, step, env), actor, ctx.policy.capabilities["approve"])
            if role is None:
                wanted = ", ".join(n.describe() for n in approvals.needs(ctx, step, env))
                raise Refused(f"{lane_name(lane)} needs {wanted}; {actor.name} has none of those roles.")
        async with ctx.unit_of_work():  # the vote, its audit entry and the lane's move it makes
            await approvals.record(ctx, lane, actor, role, decision, plan.fingerprint, reason)
            return await self._settle_approval(run, step, lane, plan, actor)

    async def _settle_approval(
        self, run: Run, step: Step, lane: StepLane, plan: Plan, actor: Actor
    ) -> approvals.ApprovalStatus:
        status = await approvals.evaluate(self._ctx, step, lane, plan.fingerprint, lane.requested_by)
        wanted = StepState.APPROVED if status.satisfied else StepState.READY
        try:
            if status.satisfied and lane.state is not StepState.APPROVED:
                await self._ctx.lanes.transition(lane, StepState.APPROVED, actor, "approved")
            elif not status.satisfied and lane.state is StepState.APPROVED:
                await self._ctx.lanes.transition(lane, StepState.READY, actor, status.summary())
        except Refused:
            # A concurrent vote moved the lane first: the vote stands, and where it moved is fine.
            now = await self._ctx.lanes.get(lane.run_id, lane.step_id, lane.environment)
            if (now.state is StepState.APPROVED) != (wanted is StepState.APPROVED):
                raise
        await self._ctx.emit(run, "step_changed", f"{lane_name(lane)}: {status.summary()}.", step.id)
        return status

    async def approve(self, channel: str, step_id: str, env: str, actor: Actor) -> approvals.ApprovalStatus:
        return await self._vote(channel, step_id, env, actor, "approved", None)

    async def reject(self, channel: str, step_id: str, env: str, actor: Actor, reason: str) -> approvals.ApprovalStatus:
        return await self._vote(channel, step_id, env, actor, "rejected", reason)

    async def draft_plan(self, run: Run, step: Step, env: str) -> Plan:
        """The plan as it stands now, for a card: built from fresh snapshots, withdrawing nothing
        and auditing nothing, so re-drawing a card changes no state."""
        return await build_plan(self._ctx, run.id, run.dry_run, step, env)

    def approval_needs(self, step: Step, environment: str) -> list[approvals.Need]:
        """The votes a lane needs (roles and counts), as the runbook and the policy say."""
        return approvals.needs(self._ctx, step, environment)

    async def run_preflight(self, run: Run, step: Step, env: str, fingerprint: str, actor: Actor) -> Preflight:
        """Four eyes before the confirm dialog: the lane is approved by others than the requester.

        A lane approved but not by four eyes (the requester's own vote) is refused on the record."""
        ctx = self._ctx
        lane = await ctx.lanes.get(run.id, step.id, env)
        status = await approvals.evaluate(ctx, step, lane, fingerprint, actor.user_id)
        if lane.state is StepState.APPROVED and status.satisfied:
            return Preflight(True)
        message = (
            f"You asked to run {step.id} on {env}; it {status.summary()} before it can run "
            "(your own approval does not count in production). Nothing was run yet."
        )
        if lane.state is StepState.APPROVED:
            await ctx.auditor.record(
                actor, AuditKind.CONFIRM_RUN, run_id=run.id, step_id=step.id, outcome="refused", detail=message
            )
        return Preflight(False, message)


def _voting_role(needs: list[approvals.Need], actor: Actor, approvers: frozenset[str]) -> str | None:
    """The role an actor's vote counts for: a role the step asks for, else any approving role."""
    for need in needs:
        if need.role != approvals.ANY_APPROVER and actor.has(need.role):
            return need.role
    if any(n.role == approvals.ANY_APPROVER for n in needs) or not needs:
        mine = sorted(actor.roles & approvers)
        return mine[0] if mine else None
    return None
