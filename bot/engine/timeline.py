"""The read-side use case behind the web timeline: a run's week as one view model.

Reads only through the store's ports (runs, lanes, approvals, ticks, executions, alerts, audit)
and the MetricsSource, so the web layer renders without knowing a table; who may look is
decided here too (``may_view``), the same way the chat layer's refusals are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Protocol

from bot.engine.calendar import RunCalendar
from bot.engine.permissions import Policy
from bot.engine.ports import Actor, AlertRecord, Clock, MetricsSource
from bot.engine.records import (
    Approval,
    AuditEntry,
    ChecklistTick,
    Execution,
    GateRecord,
    Incident,
    Run,
    StepLane,
    StepState,
    TargetRecord,
)
from bot.engine.timeline_marks import (
    alert_marks,
    approval_marks,
    decision_marks,
    hold_marks,
    incident_marks,
    lane_bars,
    rollback_marks,
    tick_marks,
)
from bot.engine.timeline_model import (
    Axis,
    ChartSpec,
    CostLine,
    DayColumn,
    Decision,
    LaneState,
    Mark,
    RunSummary,
    StepRow,
    Timeline,
)
from bot.runbook.models import Runbook, Step


class TimelineSource(Protocol):
    """The store reads the timeline needs (bot/store implements every one)."""

    async def get_run(self, run_id: str) -> Run | None: ...

    async def runs(self) -> list[Run]: ...

    async def lanes(self, run_id: str) -> list[StepLane]: ...

    async def run_approvals(self, run_id: str) -> list[Approval]: ...

    async def run_ticks(self, run_id: str) -> list[ChecklistTick]: ...

    async def executions(self, run_id: str) -> list[Execution]: ...

    async def targets(self, execution_id: str) -> list[TargetRecord]: ...

    async def audit(self, run_id: str | None = None, limit: int | None = None) -> list[AuditEntry]: ...

    async def alerts(self, run_id: str) -> list[AlertRecord]: ...

    async def incidents(self, run_id: str) -> list[Incident]: ...

    async def get_gate(self, run_id: str, gate_id: str) -> GateRecord | None: ...


class NotFound(Exception):
    """A run or step that does not exist; ``message`` is the sentence the page shows."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def axis_of(calendar: RunCalendar, run: Run, now: datetime) -> Axis:
    """Local midnight of Day 1 to local midnight after the last day (later if the run went on)."""
    start = calendar.at(calendar.date_of(1), time(0))
    end = calendar.at(calendar.date_of(calendar.working_days) + timedelta(days=1), time(0))
    last = run.finished_at or now
    if last > end:
        end = calendar.at(calendar.local_date(last) + timedelta(days=1), time(0))
    return Axis(start, end)


def day_columns(calendar: RunCalendar, axis: Axis) -> list[DayColumn]:
    columns = []
    day = calendar.local_date(axis.start)
    while calendar.at(day, time(0)) < axis.end:
        begin, finish = calendar.at(day, time(0)), calendar.at(day + timedelta(days=1), time(0))
        number = calendar.day_of(day)
        title = f"Day {number} · {day:%a %d %b}" if number else f"{day:%a %d %b}"
        columns.append(DayColumn(day, number, title, axis.x(begin), round(axis.x(finish) - axis.x(begin), 4)))
        day += timedelta(days=1)
    return columns


class Timelines:
    """Builds timelines, step pages and run lists; the composition root hands one to the web layer."""

    def __init__(
        self, runbook: Runbook, source: TimelineSource, metrics: MetricsSource, clock: Clock, policy: Policy
    ) -> None:
        self.runbook = runbook
        self.source = source
        self.metrics = metrics
        self.clock = clock
        self.policy = policy

    def may_view(self, actor: Actor, run: Run | None = None) -> str | None:
        """Why ``actor`` may not see ``run`` (or the run list), or None when they may.

        Anyone holding a role of the rollout (manager, lead, on-call, member) may read its runs;
        a workspace member without one may not, and a run of another runbook is not shown here."""
        if not actor.roles - {"bot"}:
            return (
                f"{actor.name} holds no role in this rollout, so its timeline is not shown; "
                "ask a lead to add you to ION_ROLES."
            )
        if run is not None and run.runbook_id != self.runbook.id:
            return f"Run {run.id} follows runbook {run.runbook_id}, which this bot does not run."
        return None

    async def run(self, run_id: str) -> Run:
        run = await self.source.get_run(run_id)
        if run is None:
            raise NotFound(f"There is no run {run_id}; the list of runs is at /runs.")
        return run

    async def summaries(self) -> list[RunSummary]:
        """Every run, newest first, with how many of its steps are finished."""
        total = len(self.runbook.steps())
        summaries = []
        for run in sorted(await self.source.runs(), key=lambda r: r.created_at, reverse=True):
            lanes = await self.source.lanes(run.id)
            done = _finished_steps(self.runbook, lanes)
            summaries.append(RunSummary(run, self.runbook.title, done, total))
        return summaries

    async def timeline(self, run_id: str) -> Timeline:
        run = await self.run(run_id)
        now = self.clock.now()
        calendar = RunCalendar(self.runbook, run.start_date)
        axis = axis_of(calendar, run, now)
        lanes = await self.source.lanes(run.id)
        executions = await self.source.executions(run.id)
        alerts = await self.source.alerts(run.id)
        audit = await self.source.audit(run.id)
        names = _names(audit)
        bars = lane_bars(axis, lanes, executions, now)
        votes, ticks = await self.source.run_approvals(run.id), await self.source.run_ticks(run.id)
        alerted = alert_marks(axis, alerts, now)
        rows = []
        for step in self.runbook.steps():
            step_lanes = [lane for lane in lanes if lane.step_id == step.id]
            texts = {item.id: item.text for item in step.checklist_items()}
            marks = approval_marks(axis, [v for v in votes if v.step_id == step.id])
            marks += tick_marks(axis, [t for t in ticks if t.scope == step.id], texts)
            marks += rollback_marks(axis, [e for e in executions if e.step_id == step.id], names)
            marks += [m for m in alerted if m.step_id == step.id]
            rows.append(
                StepRow(
                    step.id,
                    step.title,
                    step.day,
                    tuple(_lane_state(step, lane) for lane in _with_pending(step, step_lanes)),
                    tuple(b for b in bars if b.step_id == step.id),
                    tuple(sorted(marks, key=lambda m: m.at)),
                )
            )
        run_marks = [m for m in alerted if m.step_id is None]
        run_marks += hold_marks(axis, audit, now) + incident_marks(axis, await self.source.incidents(run.id))
        decisions, decision_points = await self._decisions(axis, run, calendar)
        return Timeline(
            run=run,
            runbook_title=self.runbook.title,
            timezone=self.runbook.calendar.timezone,
            axis=axis,
            days=tuple(day_columns(calendar, axis)),
            rows=tuple(rows),
            run_marks=tuple(sorted(run_marks + decision_points, key=lambda m: m.at)),
            decisions=tuple(decisions),
            charts=tuple(self.charts()),
            costs=tuple(CostLine(c.service, c.current_usd, c.target_usd) for c in self.runbook.targets.cost),
            read_at=now,
        )

    async def _decisions(self, axis: Axis, run: Run, calendar: RunCalendar) -> tuple[list[Decision], list[Mark]]:
        decisions, marks = [], []
        for gate in self.runbook.gates:
            record = await self.source.get_gate(run.id, gate.id)
            decided = record is not None and record.decided_at is not None
            decisions.append(
                Decision(
                    gate.id,
                    gate.title,
                    gate.day,
                    record.decision if record else None,
                    (record.decided_by_name or record.decided_by) if record else None,
                    record.decided_at if record else None,
                    record.reason if record else None,
                    axis.x(record.decided_at) if record is not None and record.decided_at is not None else None,
                    tuple(
                        f"{h.label}: overridden by {h.override_by}: {h.override_reason}"
                        for h in (record.health if record else [])
                        if h.override_reason
                    ),
                )
            )
            if record is not None and (decided or record.signoffs):
                marks += decision_marks(axis, record)
        return decisions, marks

    def charts(self) -> list[ChartSpec]:
        """One chart per rollback trigger whose metric the MetricsSource can read."""
        specs = []
        for trigger in self.runbook.triggers:
            condition = trigger.condition
            metric = self.runbook.metric(condition.metric)
            if metric is None or metric.source != "monitoring":
                continue
            threshold = condition.threshold.resolve(metric.baseline)
            specs.append(
                ChartSpec(
                    trigger.id,
                    metric.id,
                    metric.title,
                    metric.unit,
                    trigger.environment,
                    condition.op,
                    threshold,
                    condition.text or f"{metric.id} {condition.op} {condition.threshold}",
                )
            )
        return specs


def _names(audit: Sequence[AuditEntry]) -> dict[str, str]:
    return {entry.actor_id: entry.actor_name for entry in audit}


def _with_pending(step: Step, lanes: Sequence[StepLane]) -> list[StepLane]:
    """The step's lanes in runbook order; one not stored yet is pending."""
    stored = {lane.environment: lane for lane in lanes}
    return [stored.get(env) or StepLane(lanes[0].run_id if lanes else "", step.id, env) for env in step.environments]


def _lane_state(step: Step, lane: StepLane) -> LaneState:
    return LaneState(lane.environment, lane.state.value, lane.reason, lane.changed_by, lane.changed_at)


FINISHED = frozenset({StepState.DONE, StepState.SKIPPED})


def _finished_steps(runbook: Runbook, lanes: Sequence[StepLane]) -> int:
    states = {(lane.step_id, lane.environment): lane.state for lane in lanes}
    return sum(
        1 for step in runbook.steps() if all(states.get((step.id, env)) in FINISHED for env in step.environments)
    )
