"""The use cases the chat layer calls: one method per thing a person can ask the bot to do.

Every method takes the Actor and the channel, raises ``Refused`` with a sentence when the answer
is no (and audits the refusal, "there is no run" and "no such step" included), and otherwise
returns a typed view or result. The reads (status, step and gate views, audit) audit nothing.

Long executions: ``start_execution`` returns as soon as the run is claimed, with an asyncio
Task for the rest (apply, verify, soak); ``confirm_run`` is ``start_execution`` awaited to the end.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TypeVar

from bot.engine import approvals, checklist, guards, manual, recheck, recovery, rollback
from bot.engine.audit_kinds import AuditKind
from bot.engine.context import Context
from bot.engine.errors import Refused
from bot.engine.executor import ExecutionResult, Executor, accept_if_complete
from bot.engine.lease import DEFAULT_LEASE, new_owner_id
from bot.engine.permissions import Policy
from bot.engine.plan import Plan
from bot.engine.ports import ActionFactory, Actor, AlertHistory, Clock, ConditionChecker, Notifier
from bot.engine.records import (
    AuditEntry,
    Execution,
    ExecutionState,
    Incident,
    Run,
    RunState,
    StepLane,
    StepState,
)
from bot.engine.rollout_votes import Votes
from bot.engine.start_date import day_one
from bot.engine.states import IN_PROGRESS, RUNNABLE, lane_name
from bot.engine.store import RolloutStore
from bot.runbook.models import Runbook, Step

T = TypeVar("T")
RaiseAlert = Callable[[Run], Awaitable[T]]  # what else an incident raises, inside its unit of work


async def _no_alert(run: Run) -> None:
    """``incident`` alone: the incident and its audit entry."""


@dataclass(frozen=True)
class StartedExecution:
    """A claimed execution and the task finishing it; await ``task`` for the result."""

    execution: Execution
    task: asyncio.Task[ExecutionResult]


class Rollout(Votes):
    def __init__(
        self,
        runbook: Runbook,
        store: RolloutStore,
        actions: ActionFactory,
        checker: ConditionChecker,
        notifier: Notifier,
        clock: Clock,
        policy: Policy,
        dry_run: bool = False,
        lease: timedelta = DEFAULT_LEASE,
        owner: str | None = None,
        alert_history: AlertHistory | None = None,
    ) -> None:
        super().__init__(
            Context(
                runbook,
                store,
                actions,
                checker,
                notifier,
                clock,
                policy,
                dry_run,
                lease,
                owner or new_owner_id(),
                alert_history=alert_history,
            )
        )
        self._tasks: set[asyncio.Task[ExecutionResult]] = set()

    # --- the run ------------------------------------------------------------------------

    async def start_run(
        self, channel: str, start_date: date | None, actor: Actor, dry_run: bool = False, shift: bool = False
    ) -> Run:
        """Day 1 is the asked date checked against the runbook's working days and weekdays
        (``start_date.day_one``: refused with the confirming command, or shifted with ``shift``)."""
        ctx = self._ctx
        async with self._audited(actor, AuditKind.START_RUN, None, None):
            guards.require(ctx, actor, "pause")
            today = ctx.clock.now().astimezone(ctx.zone).date()
            day1, shifted = day_one(ctx.runbook, start_date or today, shift)
            run = Run(
                id=uuid.uuid4().hex[:12],
                runbook_id=ctx.runbook.id,
                channel=channel,
                start_date=day1,
                state=RunState.ACTIVE,
                created_at=ctx.clock.now(),
                created_by=actor.user_id,
                dry_run=dry_run or ctx.dry_run,
            )
        async with self._audited(actor, AuditKind.START_RUN, None, None), ctx.unit_of_work():
            stored = await ctx.store.create_run(run)  # the run and its audit entry, or neither
            if stored.id != run.id:
                raise Refused(
                    f"This channel already has run {stored.id} ({stored.state.value}, started "
                    f"{stored.start_date.isoformat()}); finish or abandon it before starting another."
                )
            moved = f"; shifted off the runbook's weekdays: {'; '.join(shifted)}" if shifted else ""
            await ctx.auditor.record(
                actor, AuditKind.START_RUN, run_id=run.id, after="active", detail=f"Day 1 = {run.start_date}{moved}"
            )
            note = (
                f" The days are shifted off the runbook's weekdays (--shift): {'; '.join(shifted[:3])}."
                if shifted
                else ""
            )
            await ctx.emit(
                run,
                "run_started",
                f"{ctx.runbook.title} started by {actor.name}; Day 1 is {run.start_date:%a %d %b}.{note}",
            )
        return run

    async def hold(self, channel: str, actor: Actor, reason: str) -> Run:
        await self.command_run(channel, actor, AuditKind.RUN_HELD, None)
        return await self._set_run_state(channel, actor, RunState.HELD, reason)

    async def pause(self, channel: str, actor: Actor, reason: str) -> Run:
        await self.command_run(channel, actor, AuditKind.RUN_PAUSED, None)
        return await self._set_run_state(channel, actor, RunState.PAUSED, reason)

    async def resume(self, channel: str, actor: Actor) -> Run:
        await self.command_run(channel, actor, AuditKind.RUN_ACTIVE, None)
        return await self._set_run_state(channel, actor, RunState.ACTIVE, None)

    async def finish(self, channel: str, actor: Actor, reason: str | None = None) -> Run:
        """Close the channel's run (after day 10, or to abandon it), so another can start there."""
        run = await self.command_run(channel, actor, AuditKind.FINISH_RUN, None)
        async with self._audited(actor, AuditKind.FINISH_RUN, run, None):
            guards.require(self._ctx, actor, "decide_gate")
            busy = [lane for lane in await self._ctx.store.lanes(run.id) if lane.state in IN_PROGRESS]
            if busy:
                names = ", ".join(lane_name(lane) for lane in busy)
                raise Refused(f"{names} is still in progress; wait for it or roll it back, then finish the run.")
        why = reason.strip() if reason and reason.strip() else "finished"
        closed = replace(run, state=RunState.FINISHED, reason=why, finished_at=self._ctx.clock.now())
        async with self._ctx.unit_of_work():  # the run's end and its audit entry, or neither
            await self._ctx.store.save_run(closed)
            await self._ctx.auditor.record(
                actor, AuditKind.RUN_STATE, run_id=run.id, before=run.state, after=closed.state, detail=why
            )
            await self._ctx.emit(closed, "step_changed", f"The run is finished ({actor.name}): {why}.")
        return closed

    async def incident(self, channel: str, text: str, actor: Actor, step_id: str | None = None) -> Incident:
        found, _ = await self.declare_incident(channel, text, actor, _no_alert, step_id)
        return found

    async def declare_incident(
        self, channel: str, text: str, actor: Actor, alert: RaiseAlert[T], step_id: str | None = None
    ) -> tuple[Incident, T]:
        """Record the incident, its audit entry and what ``alert`` raises for it (the watcher's alert
        and its page) in one unit of work: all of it, or, cut off anywhere, none of it, so Slack's
        retry of ``/ion incident`` does the whole command once."""
        run = await self.command_run(channel, actor, AuditKind.INCIDENT, step_id)
        async with self._audited(actor, AuditKind.INCIDENT, run, step_id):
            guards.require(self._ctx, actor, "incident")
        found = Incident(uuid.uuid4().hex, run.id, actor.user_id, actor.name, self._ctx.clock.now(), text, step_id)
        async with self._ctx.unit_of_work():
            await self._ctx.store.add_incident(found)
            await self._ctx.auditor.record(actor, AuditKind.INCIDENT, run_id=run.id, step_id=step_id, detail=text)
            raised = await alert(run)
        return found, raised

    async def audit(self, channel: str, n: int = 20) -> list[AuditEntry]:
        run = await self.require_run(channel)
        return await self._ctx.store.audit(run.id, n)

    async def recover(self) -> list[recovery.Recovered]:
        """Reconcile executions whose owner's lease expired; live ones elsewhere are left alone."""
        return (await recovery.recovery_pass(self._ctx)).recovered

    async def recovery_pass(self) -> recovery.RecoveryPass:
        """``recover`` with the executions it left alone, for the periodic pass in ``serve``."""
        return await recovery.recovery_pass(self._ctx)

    # --- checklists ------------------------------------------------------------------------

    async def tick(self, channel: str, step_id: str, item_id: str, actor: Actor) -> checklist.ChecklistStatus:
        """Tick an item (by id or card number) once its list is due; returns the step's whole status."""
        run, step = await self.command_step(channel, step_id, actor, AuditKind.TICK)
        items = step.checklist_items()
        async with self._ctx.unit_of_work():  # the tick, its audit entry and the lane it completes
            async with self._audited(actor, AuditKind.TICK, run, step_id):
                guards.require(self._ctx, actor, "tick")
                item = checklist.resolve(items, step.id, item_id)
                await checklist.require_due(self._ctx, run, step, item)
                await checklist.tick(self._ctx, run, step.id, items, item.id, actor)
            await self._accept_waiting(run, step, actor)
        return await checklist.status(self._ctx, run.id, step.id, items)

    async def untick(self, channel: str, step_id: str, item_id: str, actor: Actor) -> checklist.ChecklistStatus:
        run, step = await self.command_step(channel, step_id, actor, AuditKind.UNTICK)
        items = step.checklist_items()
        async with self._audited(actor, AuditKind.UNTICK, run, step_id):
            guards.require(self._ctx, actor, "tick")
            await checklist.untick(self._ctx, run, step.id, items, item_id, actor)
        return await checklist.status(self._ctx, run.id, step.id, items)

    async def waive(
        self, channel: str, step_id: str, item_id: str | None, reason: str, actor: Actor
    ) -> checklist.ChecklistStatus:
        run, step = await self.command_step(channel, step_id, actor, AuditKind.WAIVE)
        async with self._ctx.unit_of_work():  # the waiver, its audit entry and the lane it completes
            async with self._audited(actor, AuditKind.WAIVE, run, step_id):
                guards.require(self._ctx, actor, "waive")
                await checklist.waive(self._ctx, run, step.id, step.checklist_items(), item_id, reason, actor)
            await self._accept_waiting(run, step, actor)
        return await checklist.status(self._ctx, run.id, step.id, step.checklist_items())

    # --- manual work -----------------------------------------------------------------------

    async def done(self, channel: str, step_id: str, item: str, value: str | None, actor: Actor) -> manual.DoneOutcome:
        """A person's Done on a manual action (with its value): recorded; a passing one resumes the lane."""
        run, step = await self.command_step(channel, step_id, actor, AuditKind.DONE)
        async with self._audited(actor, AuditKind.DONE, run, step_id):
            found = manual.find(step, item)
            outcome = await manual.record_done(self._ctx, run, step, found, value, actor)
        if outcome.resume is not None:
            lane, execution = outcome.resume
            task = asyncio.create_task(Executor(self._ctx).execute(run, step, lane, execution, actor, resume=True))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            outcome = replace(outcome, task=task)
        return outcome

    async def _accept_waiting(self, run: Run, step: Step, actor: Actor) -> None:
        for env in step.environments:
            lane = await self._ctx.lanes.get(run.id, step.id, env)
            if lane.state is StepState.VERIFYING:
                lane, message = await accept_if_complete(self._ctx, run, step, lane, actor)
                if lane.state is StepState.DONE:
                    await self._ctx.emit(run, "step_changed", message, step.id)

    # --- running ---------------------------------------------------------------------------

    async def request_run(self, channel: str, step_id: str, env: str, actor: Actor) -> Plan:
        """Check everything and return the plan to confirm; marks the actor as the requester."""
        ctx = self._ctx
        run, step = await self.command_step(channel, step_id, actor, AuditKind.REQUEST_RUN)
        async with self._audited(actor, AuditKind.REQUEST_RUN, run, step_id):
            lane = await self._check_runnable(run, step, env, actor)
            if lane.state not in (
                StepState.PENDING,
                StepState.READY,
                StepState.APPROVED,
                StepState.FAILED,
                StepState.ROLLED_BACK,
            ):
                raise Refused(ctx.lanes.explain(lane, StepState.RUNNING))
            await self._recheck(run, step, lane, actor)
        if lane.state in (StepState.APPROVED, StepState.READY):
            if lane.requested_by != actor.user_id:
                marked = replace(lane, requested_by=actor.user_id)
                lane = marked if await ctx.store.put_lane(marked, lane.state) else lane
        else:
            lane = await ctx.lanes.transition(
                lane, StepState.READY, actor, f"requested by {actor.name}", requested_by=actor.user_id
            )
        plan = await self._fresh_plan(run, step, lane, actor)
        lane = await ctx.lanes.get(run.id, step.id, env)
        await self._settle_approval(run, step, lane, plan, actor)
        await ctx.auditor.record(
            actor,
            AuditKind.REQUEST_RUN,
            run_id=run.id,
            step_id=step.id,
            environment=env,
            detail=f"plan {plan.fingerprint}",
        )
        return plan

    async def _check_runnable(self, run: Run, step: Step, env: str, actor: Actor) -> StepLane:
        ctx = self._ctx
        guards.check_environment(step, env)
        guards.require(ctx, actor, guards.run_capability(ctx, env))
        guards.require_active(run)
        await guards.check_order(ctx, run, step, env)
        return await ctx.lanes.get(run.id, step.id, env)

    async def _recheck(self, run: Run, step: Step, lane: StepLane, actor: Actor) -> None:
        """Refuse a production run whose ``recheck:`` metrics no longer hold, expiring its approvals."""
        reason = await recheck.failed_recheck(self._ctx, step, lane)
        if reason is not None:
            raise Refused(await recheck.expire_approvals(self._ctx, run, step, lane, reason, actor))

    async def start_execution(
        self, channel: str, step_id: str, env: str, actor: Actor, fingerprint: str
    ) -> StartedExecution:
        """Claim the run of a lane (exactly once) and return at once with the task that finishes it."""
        ctx = self._ctx
        run, step = await self.command_step(channel, step_id, actor, AuditKind.CONFIRM_RUN)
        async with self._audited(actor, AuditKind.CONFIRM_RUN, run, step_id):
            lane = await self._check_runnable(run, step, env, actor)
            if lane.state not in RUNNABLE:
                if lane.state in (
                    StepState.PENDING,
                    StepState.READY,
                    StepState.FAILED,
                    StepState.ROLLED_BACK,
                ):
                    status = await approvals.evaluate(ctx, step, lane, fingerprint, actor.user_id)
                    raise Refused(f"{lane_name(lane)} is not approved yet: it {status.summary()}. Nothing was run.")
                raise Refused(ctx.lanes.explain(lane, StepState.RUNNING))
            await self._recheck(run, step, lane, actor)
            plan = await self._fresh_plan(run, step, lane, actor)
            if plan.fingerprint != fingerprint:
                raise Refused("The plan changed since you looked; review it again. Nothing was run.")
            status = await approvals.evaluate(ctx, step, lane, plan.fingerprint, actor.user_id)
            if not status.satisfied:
                raise Refused(
                    f"{lane_name(lane)} cannot be run by {actor.name}: it {status.summary()} "
                    "(your own approval does not count in production). Nothing was run."
                )
            execution = Execution(
                id=uuid.uuid4().hex,
                run_id=run.id,
                step_id=step.id,
                environment=env,
                kind="apply",
                state=ExecutionState.RUNNING,
                requested_by=actor.user_id,
                plan_fingerprint=plan.fingerprint,
                started_at=ctx.clock.now(),
                dry_run=run.dry_run,
                owner=ctx.owner,
                heartbeat_at=ctx.clock.now(),
            )
            detail = f"execution {execution.id} of plan {plan.fingerprint}"
            if await ctx.lanes.claim(lane, execution, StepState.RUNNING, actor, detail) is None:
                raise Refused(ctx.lanes.explain(await ctx.lanes.get(run.id, step.id, env), StepState.RUNNING))
        claimed = await ctx.lanes.get(run.id, step.id, env)
        await ctx.emit(run, "step_changed", f"{lane_name(claimed)} started by {actor.name}.", step.id)
        task = asyncio.create_task(Executor(ctx).execute(run, step, claimed, execution, actor))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return StartedExecution(execution, task)

    async def confirm_run(
        self, channel: str, step_id: str, env: str, actor: Actor, fingerprint: str
    ) -> ExecutionResult:
        started = await self.start_execution(channel, step_id, env, actor, fingerprint)
        return await started.task

    async def skip(self, channel: str, step_id: str, env: str, reason: str, actor: Actor) -> StepLane:
        run, step = await self.command_step(channel, step_id, actor, AuditKind.SKIP)
        async with self._audited(actor, AuditKind.SKIP, run, step_id):
            guards.check_environment(step, env)
            guards.require(self._ctx, actor, "waive")
            if not reason.strip():
                raise Refused(f"Skipping {step.id} needs a reason. Nothing was changed.")
            lane = await self._ctx.lanes.get(run.id, step.id, env)
            moved = await self._ctx.lanes.transition(lane, StepState.SKIPPED, actor, reason)
        await self._ctx.emit(run, "step_changed", f"{lane_name(moved)} skipped by {actor.name}: {reason}", step.id)
        return moved

    # --- rollback --------------------------------------------------------------------------

    async def rollback_preview(self, channel: str, target: str, actor: Actor) -> rollback.RollbackPlan:
        run = await self.command_run(channel, actor, AuditKind.ROLLBACK_PREVIEW, target)
        async with self._audited(actor, AuditKind.ROLLBACK_PREVIEW, run, target):
            guards.require(self._ctx, actor, "rollback")
            step, lane = await self.rollback_lane(run, target)
        return await rollback.preview(self._ctx, run, step, lane)

    async def confirm_rollback(self, channel: str, target: str, actor: Actor) -> rollback.RollbackResult:
        run = await self.command_run(channel, actor, AuditKind.ROLLBACK, target)
        async with self._audited(actor, AuditKind.ROLLBACK, run, target):
            guards.require(self._ctx, actor, "rollback")
            step, lane = await self.rollback_lane(run, target)
            return await rollback.perform(self._ctx, run, step, lane, actor)
