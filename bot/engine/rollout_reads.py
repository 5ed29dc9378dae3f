"""The read side of the Rollout facade (finding the run and step, building views, the small
look-ups adapters need instead of the engine's context) and the helpers every command shares:
auditing refusals and changing the run's state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.engine import checklist, deliveries, gates, guards, rollback, units
from bot.engine.audit_kinds import AuditKind
from bot.engine.calendar import where_are_we
from bot.engine.context import Context
from bot.engine.delegation import Delegations, DelegationStore
from bot.engine.errors import Refused
from bot.engine.handover import Handover, HandoverStore, Page, RunAction
from bot.engine.nudges import HoldRun, NoticeClaims, Nudges, People
from bot.engine.permissions import Policy
from bot.engine.ports import Actor
from bot.engine.records import Execution, GateRecord, Run, RunState, StepLane, StepState
from bot.engine.states import FINISHED, REVERTIBLE
from bot.engine.views import LaneView, StatusView, StepSummary, StepView
from bot.runbook.models import Checklist, Gate, Step


class Reads:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    # --- small reads the adapters ask instead of reaching into the context -----------------

    @property
    def zone(self) -> ZoneInfo:
        """The runbook's time zone: every time shown to people is in it."""
        return self._ctx.zone

    def show_time(self, when: datetime) -> str:
        return self._ctx.show_time(when)

    def is_production(self, environment: str) -> bool:
        return self._ctx.is_production(environment)

    @property
    def owner(self) -> str:
        """This process's id on the executions (and Socket Mode envelopes) it claims."""
        return self._ctx.owner

    @property
    def lease(self) -> timedelta:
        """How long a claim outlives its owner's last heartbeat (recovery runs this often)."""
        return self._ctx.lease

    @property
    def policy(self) -> Policy:
        return self._ctx.policy

    async def note(
        self,
        actor: Actor,
        kind: AuditKind,
        *,
        run_id: str | None,
        step_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """An audit entry for something recorded outside the engine's commands (a quality fact)."""
        await self._ctx.auditor.record(actor, kind, run_id=run_id, step_id=step_id, detail=detail)

    async def record_refusal(self, channel: str, actor: Actor, what: str, message: str) -> None:
        """A refusal made in the chat layer (an unknown runbook, a stale card) is on the record too:
        ``what`` is the request in the person's words ("/ion start", "the button approve")."""
        known, run = deliveries.run_seen(channel)
        if not known:
            run = await self._ctx.store.open_run(channel)
        await self._ctx.auditor.record(
            actor,
            AuditKind.CHAT_REQUEST,
            label=what,
            run_id=run.id if run else None,
            outcome="refused",
            detail=message,
        )

    def deadline_pass(self, claims: NoticeClaims, people: People, hold_run: HoldRun) -> Nudges:
        """The deadline reminders and escalations over this rollout (bot/engine/nudges.py)."""
        return Nudges(self._ctx, claims, people, hold_run)

    def handover(
        self, store: HandoverStore, people: People, pause: RunAction, resume: RunAction, page: Page
    ) -> Handover:
        """The overnight handover over this rollout: **I have it** and the deadline's fallback."""
        return Handover(self._ctx, store, people, pause, resume, page)

    def delegations(self, store: DelegationStore) -> Delegations:
        """``/ion delegate``: roles handed to someone until a date, audited (bot/engine/delegation.py)."""
        return Delegations(store, self._ctx.policy, self._ctx.clock, self._ctx.auditor, self._ctx.zone)

    async def open_runs(self) -> list[Run]:
        return await self._ctx.store.open_runs()

    async def run_by_id(self, run_id: str) -> Run | None:
        return await self._ctx.store.get_run(run_id)

    async def lanes(self, run_id: str) -> list[StepLane]:
        return await self._ctx.store.lanes(run_id)

    async def execution(self, execution_id: str) -> Execution | None:
        return await self._ctx.store.get_execution(execution_id)

    async def gate_record(self, run_id: str, gate_id: str) -> GateRecord | None:
        """The gate's stored decision, sign-offs and health (None before anyone touched it)."""
        return await self._ctx.store.get_gate(run_id, gate_id)

    async def checklist_due(self, run: Run, step: Step, group: Checklist) -> checklist.Due:
        """When a step's checklist group may be ticked (after production landed, after a soak)."""
        return await checklist.due(self._ctx, run, step, group)

    async def next_lane(self, channel: str, step_id: str) -> str | None:
        """The environment `/ion run STEP` runs: the first lane not done or skipped, else the last.
        None when the channel has no run or the runbook no such step."""
        run = await self._ctx.store.open_run(channel)
        step = self._ctx.runbook.step(step_id)
        if run is None or step is None:
            return None
        for env in step.environments:
            if (await self._ctx.lanes.get(run.id, step.id, env)).state not in (StepState.DONE, StepState.SKIPPED):
                return env
        return step.environments[-1]

    async def awaiting_lane(self, run: Run, step: Step) -> str:
        """The environment an approval or a rejection is for: the first lane still to be decided, else the last."""
        waiting = (StepState.PENDING, StepState.READY, StepState.FAILED, StepState.ROLLED_BACK)
        for env in step.environments:
            if (await self._ctx.lanes.get(run.id, step.id, env)).state in waiting:
                return env
        return step.environments[-1]

    async def open_lanes(self, run: Run, step: Step) -> list[str]:
        """The environments of a step neither done nor skipped (what `/ion skip` skips)."""
        lanes = [await self._ctx.lanes.get(run.id, step.id, env) for env in step.environments]
        return [lane.environment for lane in lanes if lane.state not in (StepState.DONE, StepState.SKIPPED)]

    async def latest_production_step(self, run_id: str) -> str | None:
        """The step of the run's latest production apply: what an incident or a breach points at."""
        for execution in reversed(await self._ctx.store.executions(run_id)):
            if execution.kind == "apply" and self._ctx.is_production(execution.environment):
                return execution.step_id
        return None

    @asynccontextmanager
    async def _audited(self, actor: Actor, what: AuditKind, run: Run | None, scope: str | None) -> AsyncIterator[None]:
        try:
            yield
        except Refused as refused:
            message = refused.message

            async def record() -> None:
                await self._ctx.auditor.record(
                    actor,
                    what,
                    run_id=run.id if run else None,
                    step_id=scope,
                    outcome="refused",
                    detail=message,
                )

            await units.after_unit(record)  # inside a unit: written once it is rolled back, so it stays
            refused.audited = True
            raise

    async def _set_run_state(self, channel: str, actor: Actor, to: RunState, reason: str | None) -> Run:
        run = await self.require_run(channel)
        async with self._audited(actor, AuditKind.setting_run(to), run, None):
            guards.require(self._ctx, actor, "pause")
            if run.state is to:
                raise Refused(f"The run is already {to.value}; nothing was changed.")
            if to is not RunState.ACTIVE and not (reason and reason.strip()):
                raise Refused(f"Putting the run {to.value} needs a reason, so the team knows why.")
        async with self._ctx.unit_of_work():  # the state, its audit entry and its announcement
            changed = replace(run, state=to, reason=reason)
            await self._ctx.store.save_run(changed)
            await self._ctx.auditor.record(
                actor, AuditKind.RUN_STATE, run_id=run.id, before=run.state, after=to, detail=reason
            )
            why = f": {reason}" if reason else ""
            await self._ctx.emit(changed, "step_changed", f"The run is now {to.value} ({actor.name}){why}.")
        return changed

    async def active_run(self, channel: str) -> Run | None:
        known, run = deliveries.looked_run(channel)  # read by the request's first look, moments ago
        if not known:
            run = await self._ctx.store.open_run(channel)
        deliveries.seen_run(channel, run)
        return run

    async def require_run(self, channel: str) -> Run:
        run = await self.active_run(channel)
        if run is None:
            raise Refused("There is no run in this channel; start one with /ion start.")
        return run

    async def require_step(self, channel: str, step_id: str) -> tuple[Run, Step]:
        run = await self.require_run(channel)
        return run, guards.find_step(self._ctx, step_id)

    async def status(self, channel: str) -> StatusView:
        ctx = self._ctx
        run = await self.require_run(channel)
        calendar = ctx.calendar(run)
        lanes = {(lane.step_id, lane.environment): lane for lane in await ctx.store.lanes(run.id)}
        summaries: list[StepSummary] = []
        finished: set[str] = set()
        for step in ctx.runbook.steps():
            states = {
                env: lanes[(step.id, env)].state if (step.id, env) in lanes else StepState.PENDING
                for env in step.environments
            }
            if all(state in FINISHED for state in states.values()):
                finished.add(step.id)
            summaries.append(StepSummary(step.id, step.title, step.day, states, calendar.window_of(step)))
        decisions: dict[str, str | None] = {}
        late: list[tuple[Gate, datetime]] = []
        now = ctx.clock.now()
        for gate in ctx.runbook.gates:
            record = await ctx.store.get_gate(run.id, gate.id)
            decisions[gate.id] = record.decision if record else None
            due = calendar.at(calendar.date_of(gate.day), gate.at) if gate.day <= calendar.working_days else None
            if decisions[gate.id] is None and due is not None and due <= now:
                late.append((gate, due))
        position = where_are_we(ctx.runbook, calendar, now, finished)
        return StatusView(run, position, summaries, decisions, late)

    async def step_view(self, channel: str, step_id: str) -> StepView:
        ctx = self._ctx
        run, step = await self.require_step(channel, step_id)
        views: list[LaneView] = []
        for env in step.environments:
            lane = await ctx.lanes.get(run.id, step.id, env)
            votes = [a for a in await ctx.store.approvals(run.id, step.id, env) if a.active]
            execution = await ctx.store.get_execution(lane.last_execution_id) if lane.last_execution_id else None
            records = await ctx.store.targets(execution.id) if execution else []
            views.append(LaneView(lane, votes, execution, records, ctx.is_production(env)))
        status = await checklist.status(ctx, run.id, step.id, step.checklist_items())
        due = [await checklist.due(ctx, run, step, group) for group in step.checklist_groups()]
        return StepView(run, step, ctx.calendar(run).window_of(step), views, status, due, ctx.clock.now())

    async def gate_view(self, channel: str, gate_id: str) -> gates.GateView:
        run = await self.require_run(channel)
        return await gates.view(self._ctx, run, gates.find_gate(self._ctx, gate_id))

    async def rollback_lane(self, run: Run, target: str) -> tuple[Step, StepLane]:
        """``target`` is "last" (the latest applied production lane), "day2.1" or "day2.1@staging"."""
        ctx = self._ctx
        if target == "last":
            return await self._last_production_lane(run)
        step_id, _, env = target.partition("@")
        step = guards.find_step(ctx, step_id)
        if env:
            guards.check_environment(step, env)
            return step, await ctx.lanes.get(run.id, step.id, env)
        lanes = [await ctx.lanes.get(run.id, step.id, e) for e in step.environments]
        touched = [lane for lane in lanes if lane.state in REVERTIBLE | {StepState.ROLLING_BACK, StepState.ROLLED_BACK}]
        chosen = sorted(touched, key=lambda lane: (lane.changed_at is not None, lane.changed_at))
        return step, (chosen[-1] if chosen else lanes[-1])

    async def _last_production_lane(self, run: Run) -> tuple[Step, StepLane]:
        ctx = self._ctx
        for execution in reversed(await ctx.store.executions(run.id)):
            if execution.kind != "apply" or not ctx.is_production(execution.environment):
                continue
            if not await rollback.changed_anything(ctx, execution):  # a timed-out update may land late
                continue
            step = ctx.runbook.step(execution.step_id)
            if step is not None:
                return step, await ctx.lanes.get(run.id, step.id, execution.environment)
        raise Refused("Nothing has been applied in production in this run, so there is nothing to roll back.")
