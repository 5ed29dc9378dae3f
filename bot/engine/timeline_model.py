"""The read models of the web timeline: what a page shows, already placed on one time axis.

Framework-free and computed once per request, so the templates only print; positions are
percentages of the run's axis, so the metric charts below share it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bot.engine.ports import JSON
from bot.engine.records import AuditEntry, Run


@dataclass(frozen=True)
class Axis:
    """The run's time axis: local midnight of Day 1 to local midnight after the last day."""

    start: datetime
    end: datetime

    def x(self, at: datetime) -> float:
        """Where ``at`` falls, in percent of the axis (clamped to 0..100)."""
        total = (self.end - self.start).total_seconds()
        share = (at - self.start).total_seconds() / total if total > 0 else 0.0
        return round(min(100.0, max(0.0, share * 100.0)), 4)

    def width(self, start: datetime, end: datetime) -> float:
        """A span's width in percent; a minimum, so a one-minute step is still visible."""
        return round(max(0.12, self.x(end) - self.x(start)), 4)


@dataclass(frozen=True)
class DayColumn:
    """One calendar date of the run; ``number`` is the runbook's Day N (None on a weekend)."""

    on: date
    number: int | None
    title: str
    left: float
    width: float


@dataclass(frozen=True)
class LaneBar:
    """One lane (step, environment) from its first execution's start to its last one's end."""

    step_id: str
    environment: str
    state: str
    start: datetime
    end: datetime
    left: float
    width: float
    by: str | None
    open_ended: bool  # still running or waiting: the bar ends at "now"


@dataclass(frozen=True)
class Mark:
    """A moment on the axis: an approval, a tick, an alert, a hold, a rollback, a decision."""

    kind: str
    at: datetime
    left: float
    who: str
    text: str
    step_id: str | None = None
    environment: str | None = None
    until: datetime | None = None  # alerts and holds: when they ended
    width: float | None = None


@dataclass(frozen=True)
class LaneState:
    """A lane as the store holds it, bar or not (a pending or skipped lane has none)."""

    environment: str
    state: str
    reason: str | None
    changed_by: str | None
    changed_at: datetime | None


@dataclass(frozen=True)
class StepRow:
    step_id: str
    title: str
    day: int
    lanes: tuple[LaneState, ...]
    bars: tuple[LaneBar, ...]
    marks: tuple[Mark, ...]


@dataclass(frozen=True)
class Decision:
    """A decision point (Go/No-Go) and its outcome, when decided."""

    gate_id: str
    title: str
    day: int
    decision: str | None
    by: str | None
    at: datetime | None
    reason: str | None
    left: float | None
    overrides: tuple[str, ...] = ()  # "check: overridden by lee: reason", each health check let pass


@dataclass(frozen=True)
class ChartSpec:
    """One trigger metric drawn under the timeline: its threshold and where its alerts were open."""

    trigger_id: str
    metric: str
    title: str
    unit: str
    environment: str
    op: str
    threshold: float | None
    condition: str


@dataclass(frozen=True)
class CostLine:
    """A cost target of the runbook: the service, today's monthly figure and the goal."""

    service: str
    current_usd: float
    target_usd: float


@dataclass(frozen=True)
class Timeline:
    run: Run
    runbook_title: str
    timezone: str
    axis: Axis
    days: tuple[DayColumn, ...]
    rows: tuple[StepRow, ...]
    run_marks: tuple[Mark, ...]
    decisions: tuple[Decision, ...]
    charts: tuple[ChartSpec, ...]
    costs: tuple[CostLine, ...]
    read_at: datetime


@dataclass(frozen=True)
class RunSummary:
    run: Run
    runbook_title: str
    steps_done: int
    steps_total: int


@dataclass(frozen=True)
class TargetView:
    """One target of one action of an execution: the plan diff and the state before and after."""

    action_line: str
    target_label: str
    status: str
    changes: tuple[str, ...]
    before: JSON
    after: JSON
    message: str | None
    mutating: bool
    at: datetime


@dataclass(frozen=True)
class ExecutionView:
    id: str
    environment: str
    kind: str
    state: str
    requested_by: str
    started_at: datetime
    finished_at: datetime | None
    message: str | None
    dry_run: bool
    targets: tuple[TargetView, ...]

    @property
    def checks(self) -> tuple[TargetView, ...]:
        """The verification results: what the non-mutating actions (gates, probes, queries) found."""
        return tuple(t for t in self.targets if not t.mutating)


@dataclass(frozen=True)
class StepPage:
    run: Run
    step_id: str
    title: str
    day: int
    objective: str | None
    plan: tuple[str, ...]  # the runbook's plan lines, one per action
    lanes: tuple[LaneState, ...]
    executions: tuple[ExecutionView, ...]
    marks: tuple[Mark, ...]
    audit: tuple[AuditEntry, ...]
    timezone: str


@dataclass(frozen=True)
class SeriesView:
    """A metric's points as the chart draws them: axis percent and value, with the alert windows."""

    trigger_id: str
    metric: str
    title: str
    unit: str
    threshold: float | None
    points: tuple[tuple[float, float], ...]
    windows: tuple[tuple[float, float], ...]
    low: float
    high: float
    missing: str | None = None  # why there is no series (the metric could not be read)
    extra: dict[str, JSON] = field(default_factory=dict)
