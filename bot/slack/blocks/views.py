"""Plain inputs of the card builders, filled by the Slack layer from the engine's views.

They carry exactly what a card shows, so the builders stay pure functions (view -> blocks)
and can be tested without an engine. Times are timezone-aware; cards show them in
``CardMeta.timezone``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.engine.ports import Change
from bot.engine.records import StepState
from bot.engine.states import Move
from bot.engine.views import NEXT_MOVES
from bot.runbook.models import Gate, Step


@dataclass(frozen=True)
class CardMeta:
    """What every interactive card carries: the run, the version of the state it shows, dry run."""

    run_id: str
    card_version: int = 0
    dry_run: bool = False
    timezone: str = "UTC"


@dataclass(frozen=True)
class LaneView:
    """One environment of a step: its state, since when and by whom."""

    environment: str
    state: str  # a StepState value: pending, ready, approved, running, ..., rolled_back, skipped
    since: datetime | None = None
    by: str | None = None  # Slack user id or display name
    reason: str | None = None  # skipped / failed / rolled back: why

    @property
    def moves(self) -> tuple[Move, ...]:
        """What the engine accepts for this lane now: the card draws its buttons from these only."""
        return NEXT_MOVES[StepState(self.state)]


@dataclass(frozen=True)
class TickView:
    """A ticked (or waived) checklist item; ``ticked_by`` is a display name (notes are plain text)."""

    item_id: str
    ticked_by: str
    at: datetime
    waived_reason: str | None = None  # set when the item was waived rather than ticked


@dataclass(frozen=True)
class ApprovalView:
    environment: str
    by: str
    at: datetime
    decision: str = "approved"  # "approved" | "rejected"
    role: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class PlanLine:
    """One action of a plan: its describe() line and the field changes it would make."""

    description: str
    changes: tuple[Change, ...] = ()
    mutating: bool = True


@dataclass(frozen=True)
class PlanView:
    """What running a step in one environment would do, against a fresh snapshot."""

    environment: str
    fingerprint: str
    lines: tuple[PlanLine, ...]
    production: bool = False


@dataclass(frozen=True)
class CheckView:
    """A condition checked against live metrics; ``passed`` None means unknown (never healthy)."""

    label: str
    passed: bool | None
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    detail: str = ""
    counted: tuple[CountedView, ...] = ()  # a gate's counts check: what it counted


@dataclass(frozen=True)
class CountedView:
    """One thing a gate check counted (an alert, a rollback, an incident, a step not done)."""

    text: str
    link: str | None = None  # the alert's message in Slack, when it was posted


@dataclass(frozen=True)
class ManualView:
    """A manual action on the card: for whom, what value it asks, and per lane what happened."""

    number: int
    ref: str  # what /ion done and the Done button name it by
    title: str
    for_whom: str
    asks: str | None = None  # "cache_hit_pct in % (cache_hit_pct > 65)"
    usage: str = ""  # the /ion done line
    lines: tuple[str, ...] = ()  # "staging: done by dana at 09:12 (70%)", failing entries too
    waiting_in: tuple[str, ...] = ()  # environments whose lane waits for this action now


@dataclass(frozen=True)
class ListView:
    """One checklist of the step: its items (by id) and when it is due ("" when always)."""

    title: str
    item_ids: tuple[str, ...]
    moment: str = ""  # "30 min after the production change landed"
    due_at: datetime | None = None
    landed: bool = True
    due_now: bool = True


@dataclass(frozen=True)
class StepCardView:
    meta: CardMeta
    step: Step
    lanes: tuple[LaneView, ...] = ()
    ticks: tuple[TickView, ...] = ()
    approvals: tuple[ApprovalView, ...] = ()
    plans: tuple[PlanView, ...] = ()
    acceptance: tuple[CheckView, ...] = ()  # live values of step.acceptance, when checked
    on_date: date | None = None
    manual: tuple[ManualView, ...] = ()
    lists: tuple[ListView, ...] = ()  # empty: one list of step.checklist, always due


@dataclass(frozen=True)
class SignoffView:
    role: str
    by: str | None = None  # None: still awaited
    at: datetime | None = None


@dataclass(frozen=True)
class GateCardView:
    meta: CardMeta
    gate: Gate
    checks: tuple[CheckView, ...] = ()
    ticks: tuple[TickView, ...] = ()
    signoffs: tuple[SignoffView, ...] = ()
    decision: str | None = None  # "yes" | "no"
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None
    on_date: date | None = None
    overrides: tuple[str, ...] = ()  # "label: overridden by lee (reason)", plain text


@dataclass(frozen=True)
class LatestStepView:
    """The production step most likely to blame for an alert."""

    step_id: str
    title: str
    environment: str
    finished_at: datetime | None = None


@dataclass(frozen=True)
class AlertCardView:
    meta: CardMeta
    alert_id: str
    title: str  # the trigger's title, or the incident text
    condition: str  # "error_rate_pct > 1 for 5m"
    kind: str = "breach"  # "breach" | "no_data" | "incident"
    state: str = "open"  # "open" | "acknowledged" | "held" | "resolved"
    value: float | None = None
    threshold: float | None = None
    unit: str = ""
    held_for: timedelta | None = None
    opened_at: datetime | None = None
    environment: str = "production"
    latest_step: LatestStepView | None = None
    oncall_group: str | None = None  # Slack user-group id from config, e.g. S0ONCALL
    acknowledged_by: str | None = None
    auto_rollback_at: datetime | None = None
    auto_rollback_paused: bool = False  # the run is held or paused, so the countdown waits
    step_condition: bool = False  # a step's own rollback_if: latest_step is the step it judges


@dataclass(frozen=True)
class RollbackCardView:
    """Exactly what a rollback restores: per target, the value now and the value from the snapshot."""

    meta: CardMeta
    step_id: str
    step_title: str
    environment: str
    fingerprint: str
    restores: tuple[Change, ...]  # before = live value now, after = value restored from the snapshot
    applied_at: datetime | None = None
    applied_by: str | None = None
    refusal: str | None = None  # why a rollback is not possible (nothing applied, no snapshot)
    production: bool = True


@dataclass(frozen=True)
class StepLineView:
    step_id: str
    title: str
    window: str = ""  # "09:00-10:00"
    lanes: tuple[LaneView, ...] = ()


@dataclass(frozen=True)
class GateLineView:
    gate_id: str
    title: str
    decision: str | None = None


@dataclass(frozen=True)
class OverdueView:
    """A step whose window ended without it being done everywhere, or a gate past its time undecided."""

    item_id: str
    title: str
    due: datetime  # when its window ended (a gate: its decision time)
    states: str = ""  # "production approved", "undecided"


@dataclass(frozen=True)
class StatusCardView:
    """The run at a glance (``/ion status``) or one day of it (``/ion today``)."""

    meta: CardMeta
    runbook_title: str
    run_state: str  # a RunState value
    day: int | None = None
    day_title: str | None = None
    on_date: date | None = None
    steps: tuple[StepLineView, ...] = ()
    gates: tuple[GateLineView, ...] = ()
    open_alerts: int = 0
    next_step: str | None = None
    reason: str | None = None  # why held or paused
    overdue: tuple[OverdueView, ...] = ()


@dataclass(frozen=True)
class MetricLineView:
    title: str
    unit: str
    value: float | None
    baseline: float | None = None
    target: float | None = None
    better: str = "lower"  # "lower" | "higher"


@dataclass(frozen=True)
class AlertLineView:
    alert_id: str
    title: str
    state: str
    opened_at: datetime | None = None


@dataclass(frozen=True)
class HomeView:
    """The App Home tab: the active run, today's steps, open alerts and metrics."""

    dry_run: bool = False
    timezone: str = "UTC"
    active: StatusCardView | None = None
    alerts: tuple[AlertLineView, ...] = ()
    metrics: tuple[MetricLineView, ...] = ()
    delegations: tuple[str, ...] = ()  # "lou holds lead until Fri 06 Nov (given by lee)"


@dataclass(frozen=True)
class ProgressEntry:
    at: datetime
    text: str
    ok: bool | None = None  # None: in progress / informational


@dataclass(frozen=True)
class ProgressView:
    """An execution's progress, posted once in the step's thread and then updated in place."""

    meta: CardMeta
    step_id: str
    environment: str
    kind: str = "apply"  # "apply" | "rollback"
    entries: tuple[ProgressEntry, ...] = ()
    finished: str | None = None  # "succeeded" | "failed" | None while running
