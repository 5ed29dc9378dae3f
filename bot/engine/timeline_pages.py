"""The step page and the metric charts of the web timeline, from the same ports as the timeline.

A target's state "after" is not stored as such: it is the write-ahead snapshot with the action's
own diff applied (what ``apply`` set), the snapshot itself when nothing changed or it was
reverted, and unknown when the apply failed or was interrupted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime

from bot.engine.calendar import RunCalendar
from bot.engine.ports import JSON, ActionFactory, AlertRecord, Series, Target
from bot.engine.records import Execution, TargetRecord, TargetStatus
from bot.engine.timeline import NotFound, Timelines, _lane_state, _with_pending, axis_of
from bot.engine.timeline_marks import alert_marks, approval_marks, rollback_marks, tick_marks
from bot.engine.timeline_model import Axis, ChartSpec, ExecutionView, SeriesView, StepPage, TargetView
from bot.runbook.models import Runbook, Step

MAX_POINTS = 720  # a point per ~20 minutes of a ten-day axis: finer than any screen shows it
AFTER_UNKNOWN = "(unknown: the change did not finish)"


class StepPages:
    """Step pages and metric series of a run, beside ``Timelines`` (which they reuse for the run)."""

    def __init__(self, timelines: Timelines, actions: ActionFactory | None = None) -> None:
        self.timelines = timelines
        self.actions = actions

    async def step(self, run_id: str, step_id: str) -> StepPage:
        t = self.timelines
        run = await t.run(run_id)
        step = t.runbook.step(step_id)
        if step is None:
            raise NotFound(f"Runbook {t.runbook.id} has no step {step_id}; the timeline lists every step.")
        now = t.clock.now()
        axis = axis_of(RunCalendar(t.runbook, run.start_date), run, now)
        lanes = [lane for lane in await t.source.lanes(run.id) if lane.step_id == step.id]
        executions = [e for e in await t.source.executions(run.id) if e.step_id == step.id]
        audit = [e for e in await t.source.audit(run.id) if e.step_id == step.id]
        views = [await self._execution(step, e) for e in executions]
        names = {e.actor_id: e.actor_name for e in audit}
        marks = rollback_marks(axis, executions, names)
        marks += approval_marks(axis, [v for v in await t.source.run_approvals(run.id) if v.step_id == step.id])
        ticks = [tick for tick in await t.source.run_ticks(run.id) if tick.scope == step.id]
        marks += tick_marks(axis, ticks, {i.id: i.text for i in step.checklist_items()})
        marks += [m for m in alert_marks(axis, await t.source.alerts(run.id), now) if m.step_id == step.id]
        return StepPage(
            run=run,
            step_id=step.id,
            title=step.title,
            day=step.day,
            objective=step.objective,
            plan=tuple(_plan_lines(step)),
            lanes=tuple(_lane_state(step, lane) for lane in _with_pending(step, lanes)),
            executions=tuple(views),
            marks=tuple(sorted(marks, key=lambda m: m.at)),
            audit=tuple(audit),
            timezone=t.runbook.calendar.timezone,
        )

    async def _execution(self, step: Step, execution: Execution) -> ExecutionView:
        records = await self.timelines.source.targets(execution.id)
        return ExecutionView(
            id=execution.id,
            environment=execution.environment,
            kind=execution.kind,
            state=execution.state.value,
            requested_by=execution.requested_by,
            started_at=execution.started_at,
            finished_at=execution.finished_at,
            message=execution.message,
            dry_run=execution.dry_run,
            targets=tuple(self._target(step, execution.environment, r) for r in records),
        )

    def _target(self, step: Step, environment: str, record: TargetRecord) -> TargetView:
        return TargetView(
            action_line=record.action_line,
            target_label=record.target_label,
            status=record.status.value,
            changes=tuple(record.changes),
            before=record.snapshot,
            after=self._after(step, environment, record),
            message=record.message,
            mutating=record.mutating,
            at=record.at,
        )

    def _after(self, step: Step, environment: str, record: TargetRecord) -> JSON:
        if not record.mutating or record.status in (TargetStatus.UNCHANGED, TargetStatus.REVERTED):
            return record.snapshot
        if record.status is not TargetStatus.APPLIED:
            return AFTER_UNKNOWN
        return applied_state(self.timelines.runbook, self.actions, step, environment, record)

    async def series(self, run_id: str, trigger_id: str) -> SeriesView:
        """One trigger metric over the run's axis (up to now), its threshold and its alert windows."""
        t = self.timelines
        spec = next((c for c in t.charts() if c.trigger_id == trigger_id), None)
        if spec is None:
            raise NotFound(f"Runbook {t.runbook.id} has no trigger {trigger_id} with a metric to draw.")
        run = await t.run(run_id)
        now = t.clock.now()
        axis = axis_of(RunCalendar(t.runbook, run.start_date), run, now)
        alerts = [a for a in await t.source.alerts(run.id) if a.trigger_id == trigger_id]
        metric, environment = t.runbook.metric(spec.metric), t.runbook.environment(spec.environment)
        end = min(axis.end, now)
        if metric is None or environment is None or end <= axis.start:
            return _series_view(spec, axis, None, alerts, now, "the run has not started yet")
        try:
            series = await t.metrics.read(metric, environment, axis.start, end)
        except Exception as error:  # a failing read is said on the chart, never a 500
            return _series_view(spec, axis, None, alerts, now, f"the metric could not be read ({error})")
        return _series_view(spec, axis, series, alerts, now, None)


def applied_state(
    runbook: Runbook, actions: ActionFactory | None, step: Step, environment: str, record: TargetRecord
) -> JSON:
    """The snapshot with the action's own diff applied: the fields ``apply`` set."""
    snapshot = record.snapshot
    env = runbook.environment(environment)
    if actions is None or env is None or not isinstance(snapshot, dict) or record.action_index >= len(step.actions):
        return snapshot if not record.changes else AFTER_UNKNOWN
    with contextlib.suppress(Exception):  # a runbook edited since: fall back to the diff lines
        action = actions.build(step.actions[record.action_index], runbook, env)
        target = Target(record.target_key, record.target_label)
        after = dict(snapshot)
        for change in action.diff(target, snapshot):
            after[change.field] = change.after
        return after
    return AFTER_UNKNOWN


def _series_view(
    spec: ChartSpec,
    axis: Axis,
    series: Series | None,
    alerts: Sequence[AlertRecord],
    now: datetime,
    missing: str | None,
) -> SeriesView:
    points = _downsample(axis, series, spec.op in (">", ">=", "!=", "==")) if series is not None else []
    values = [v for _, v in points] + ([spec.threshold] if spec.threshold is not None else [])
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    windows = tuple((axis.x(a.opened_at), axis.x(a.resolved_at or now)) for a in alerts)
    if series is not None and not points:
        missing = "no data in this window (missing data is never healthy)"
    return SeriesView(
        spec.trigger_id, spec.metric, spec.title, spec.unit, spec.threshold, tuple(points), windows, low, high, missing
    )


def _downsample(axis: Axis, series: Series, high_is_bad: bool) -> list[tuple[float, float]]:
    """At most MAX_POINTS points, each bucket's worst value, so a breach never averages away."""
    buckets: dict[int, float] = {}
    for point in series.points:
        slot = int(axis.x(point.at) / 100.0 * (MAX_POINTS - 1))
        value = point.value
        if slot in buckets:
            value = max(buckets[slot], value) if high_is_bad else min(buckets[slot], value)
        buckets[slot] = value
    return [(round(slot * 100.0 / (MAX_POINTS - 1), 4), value) for slot, value in sorted(buckets.items())]


def _plan_lines(step: Step) -> list[str]:
    lines = []
    for index, action in enumerate(step.actions, start=1):
        title = getattr(action, "title", None)
        lines.append(f"{index}. {action.kind}" + (f": {title}" if title else ""))
    return lines
