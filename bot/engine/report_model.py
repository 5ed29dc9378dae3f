"""The records of the scheduled reports: the inputs the lead fills and the report data built from them.

Plain frozen dataclasses, no behaviour beyond a property or two, so templates (and a team's
own templates) can rely on their field names. Builders live in bot/engine/report_data.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bot.engine.cost_ledger import CostLedger

MetricStatus = Literal["met", "not met", "unknown"]
IssueKind = Literal["failed", "rolled_back", "alert", "unticked", "approval", "ready"]

# --- inputs (filled by the lead from the store and the metrics checker) ---------------------


@dataclass(frozen=True)
class StepOutcome:
    """A step lane's state; ``finished_at`` is when it reached that state, ``by`` who made it happen;
    ``dry_run`` when it was only rehearsed (nothing changed)."""

    step_id: str
    title: str
    environment: str
    state: str
    finished_at: datetime | None = None
    by: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class OpenAlert:
    trigger_id: str
    message: str
    opened_at: datetime
    state: str = "open"
    kind: str = "breach"


@dataclass(frozen=True)
class PendingApproval:
    step_id: str
    title: str
    environment: str
    waiting_for: str
    requested_by: str | None = None
    approved: bool = False  # approved and waiting only for someone to run it: not "awaiting approval"


@dataclass(frozen=True)
class UntickedItem:
    step_id: str
    item_id: str
    text: str


@dataclass(frozen=True)
class MetricReading:
    """The metric's value now (None = no data) beside its baseline and target."""

    metric_id: str
    now: float | None
    baseline: float | None
    target: float | None
    unit: str


@dataclass(frozen=True)
class GateDecision:
    """A gate's decision: ``decision`` is "yes", "no", or None while undecided."""

    gate_id: str
    decision: str | None
    by: str | None = None
    at: datetime | None = None
    overrides: tuple[str, ...] = ()  # "check: overridden by lee: reason", one per health check let pass


@dataclass(frozen=True)
class QualityReading:
    """A quality target checked by the lead (passed None = could not be checked); ``by`` and ``at``
    name the person who recorded a manual one (``/ion record``)."""

    label: str
    passed: bool | None
    detail: str = ""
    by: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class StepMetricLine:
    """One condition of a day's step judged at the report time: an acceptance condition (``role``
    "accept": met when it holds) or a ``rollback_if`` one ("rollback": met when it does NOT hold)."""

    step_id: str
    role: Literal["accept", "rollback"]
    condition: str
    label: str
    unit: str
    value: float | None
    baseline: float | None
    threshold: float | None
    window: str
    status: MetricStatus


@dataclass(frozen=True)
class ChangeRow:
    """One change of a phase: how far it reached, what it did to its metric, and whether and why it was
    rolled back (``rolled_back_why`` names the trigger and its value, or the person)."""

    step_id: str
    title: str
    reached: str
    effect: str
    rolled_back: bool
    rolled_back_why: str | None = None


@dataclass(frozen=True)
class BlockedStep:
    """A step that cannot run because a step it depends on was rolled back or failed."""

    step_id: str
    title: str
    because: str


# --- outputs (what the templates render) -----------------------------------------------------


@dataclass(frozen=True)
class CompletedStep:
    step_id: str
    title: str
    environment: str
    by: str | None
    finished_at: datetime | None  # in the team's time zone


@dataclass(frozen=True)
class MetricLine:
    metric_id: str
    label: str
    unit: str
    baseline: float | None
    now: float | None
    target: float | None
    status: MetricStatus
    window: str = ""  # which window ``now`` is, e.g. "15-min mean to 17:00"


@dataclass(frozen=True)
class Issue:
    """One blocker. ``ref`` is a step or trigger id, ``text`` the human part, ``detail`` the context."""

    kind: IssueKind
    ref: str
    text: str
    detail: str
    at: datetime | None = None
    why: str | None = None  # a rollback's reason: the trigger and its value, the failed check, or who


@dataclass(frozen=True)
class PlannedStep:
    step_id: str
    title: str
    window: str | None
    environments: tuple[str, ...]
    state: str | None = None  # "done in production at 10:12" once known (standups read it fresh)
    done: bool = False


@dataclass(frozen=True)
class PlannedGate:
    gate_id: str
    title: str
    at: str
    state: str | None = None  # "decided YES by lee at 09:05" once decided
    done: bool = False


@dataclass(frozen=True)
class DayPlan:
    day: int
    title: str
    objective: str | None
    steps: tuple[PlannedStep, ...]
    gates: tuple[PlannedGate, ...]


@dataclass(frozen=True)
class Decision:
    gate_id: str
    title: str
    state: Literal["yes", "no", "pending"]
    label: str
    by: str | None
    at: datetime | None
    overrides: tuple[str, ...] = ()  # health checks a person let pass, with who and why


@dataclass(frozen=True)
class QualityLine:
    label: str
    status: MetricStatus
    detail: str
    by: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class ReportExtras:
    """What the lead adds to a report beyond the common inputs; every field has a quiet default."""

    step_metrics: tuple[StepMetricLine, ...] = ()
    changes: tuple[ChangeRow, ...] = ()
    blocked: tuple[BlockedStep, ...] = ()
    scaling: tuple[str, ...] = ()
    dry_run: bool = False
    window: str = ""
    plan_states: tuple[tuple[str, str, bool], ...] = ()
    reasons: tuple[tuple[str, str], ...] = ()  # (step id, why it was rolled back)
    decisions: tuple[GateDecision, ...] = ()  # the gates' decisions, for the day's report to show its own


@dataclass(frozen=True)
class DailyReport:
    title: str
    day: int
    late: bool
    completed: tuple[CompletedStep, ...]
    metrics: tuple[MetricLine, ...]
    cost: CostLedger
    issues: tuple[Issue, ...]
    next_day: DayPlan | None
    objective: str | None = None
    day_title: str | None = None
    decisions: tuple[Decision, ...] = ()  # the Go/No-Go gates of the day decided, with the checks let pass
    step_metrics: tuple[StepMetricLine, ...] = ()
    rehearsed: tuple[CompletedStep, ...] = ()  # done in a dry run: nothing was changed
    scaling: tuple[str, ...] = ()
    dry_run: bool = False
    blocked: tuple[BlockedStep, ...] = ()


@dataclass(frozen=True)
class StandupDigest:
    title: str
    standup: str
    day: int
    late: bool
    completed_yesterday: tuple[CompletedStep, ...]
    today: DayPlan | None
    blockers: tuple[Issue, ...]
    metrics: tuple[MetricLine, ...]
    cost: CostLedger
    agenda: tuple[str, ...]
    dry_run: bool = False
    snapshot_at: datetime | None = None  # when the day's one snapshot was taken (team zone)
    attendees: str = ""  # the mentions of the people expected at the standup
    local_times: tuple[str, ...] = ()  # "US 09:00 America/Chicago", ... (one post for every zone)


@dataclass(frozen=True)
class PhaseSummary:
    title: str
    phase: str
    first_day: int
    last_day: int
    day: int
    late: bool
    completed: tuple[CompletedStep, ...]
    metrics: tuple[MetricLine, ...]
    cost: CostLedger
    quality: tuple[QualityLine, ...]
    issues: tuple[Issue, ...]
    decision: Decision | None
    next_phase: str | None
    next_day: DayPlan | None
    changes: tuple[ChangeRow, ...] = ()
    blocked: tuple[BlockedStep, ...] = ()
    rehearsed: tuple[CompletedStep, ...] = ()
    dry_run: bool = False
    expected_results: tuple[str, ...] = ()
    week: str = ""  # "Week 17": the seed's "Expected Week 17 Results"


@dataclass(frozen=True)
class FinalReport:
    title: str
    day: int
    late: bool
    completed: tuple[CompletedStep, ...]
    metrics: tuple[MetricLine, ...]
    cost: CostLedger
    quality: tuple[QualityLine, ...]
    issues: tuple[Issue, ...]
    decision: Decision | None
    expected_results: tuple[str, ...]
    changes: tuple[ChangeRow, ...] = ()
    blocked: tuple[BlockedStep, ...] = ()
    rehearsed: tuple[CompletedStep, ...] = ()
    dry_run: bool = False
    week: str = ""  # "Week 17": the seed's "Expected Week 17 Results"
