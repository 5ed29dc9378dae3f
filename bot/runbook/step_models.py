"""A rollout's days and their steps: windows, checklists, approvals, verification, rollback procedure."""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from bot.runbook.action_specs import Action, Manual
from bot.runbook.deadlines import Deadline
from bot.runbook.model_types import ClockTime, ConditionExpr, Duration, EnvName, Model, RoleId, Weekday


class TimeWindow(Model):
    start: ClockTime
    end: ClockTime


class ChecklistItem(Model):
    """A box to tick. ``condition`` (optional) lets the bot show the live value beside it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    text: str
    condition: ConditionExpr | None = None


STEP_LANE = "step"


class Checklist(Model):
    """Boxes that belong to one lane (or to the step as a whole) and are due from one moment on.

    ``after: production`` + ``for: 30m``: the items can be ticked from 30 minutes after the
    production change landed, not before; a lane's lists must be complete before it is done.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    title: str
    lane: EnvName = Field(STEP_LANE, description="The environment whose lane it accepts, or 'step' (the last lane).")
    after: EnvName | None = Field(None, description="Due once this environment's change has landed.")
    wait: Duration | None = Field(None, alias="for", description="...and this long after it (e.g. 30m).")
    items: list[ChecklistItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _moment(self) -> Checklist:
        if self.wait is not None and self.after is None:
            raise ValueError("'for' counts from a moment: add 'after: ENVIRONMENT' (e.g. after: production)")
        return self


class ApprovalRule(Model):
    role: RoleId
    count: int = Field(1, ge=1)


class CostImpact(Model):
    """Monthly saving a step realises when done in production (negative = saving)."""

    service: str
    monthly_usd: float


class Verification(Model):
    """A post-deployment window ("30 minutes post-deployment"): conditions must hold throughout."""

    window: Duration
    conditions: list[ConditionExpr] = Field(default_factory=list)


class RollbackProcedure(Model):
    description: str
    commands: list[str] = Field(default_factory=list, description="What a person would type; for reference.")


class Step(Model):
    id: str = Field(pattern=r"^day\d+\.\d+$")
    title: str
    window: TimeWindow | None = None
    objective: str | None = None
    actions: list[Action] = Field(default_factory=list)
    checklist: list[ChecklistItem] = Field(default_factory=list, description="Boxes for the step as a whole.")
    checklists: list[Checklist] = Field(default_factory=list, description="Boxes per lane and moment.")
    acceptance: list[ConditionExpr] = Field(default_factory=list)
    rollback_if: list[ConditionExpr] = Field(default_factory=list)
    recheck: list[ConditionExpr] = Field(
        default_factory=list, description="Read again before a production run; a failure expires its approvals."
    )
    verification: Verification | None = None
    expected_impact: str | None = None
    cost_impact: CostImpact | None = None
    approvals: list[ApprovalRule] = Field(default_factory=list)
    environments: list[EnvName] = Field(default_factory=lambda: ["production"])
    staging_first: bool = Field(False, description="Production run refused until the staging run is done.")
    depends_on: list[str] = Field(default_factory=list)
    rollback: RollbackProcedure | None = None
    auto_revert_on_failure: bool = False
    notes: str | None = None
    deadline: Deadline | None = Field(None, description="When its approval or manual items are due (deadlines).")

    @property
    def day(self) -> int:
        return int(self.id[3:].split(".")[0])

    def checklist_groups(self) -> list[Checklist]:
        """Every list of the step in card order; the plain ``checklist`` is one for the whole step."""
        plain = [Checklist(title="Checklist", items=self.checklist)] if self.checklist else []
        return [*plain, *self.checklists]

    def checklist_items(self) -> list[ChecklistItem]:
        """Every box of the step, numbered 1..n in this order on the card."""
        return [item for group in self.checklist_groups() for item in group.items]

    def checklist_of(self, item_id: str) -> Checklist | None:
        return next((g for g in self.checklist_groups() if any(i.id == item_id for i in g.items)), None)

    def lane_checklists(self, environment: str) -> list[Checklist]:
        """The lists that must be complete before ``environment``'s lane is done."""
        last = self.environments[-1] if self.environments else None
        return [
            g for g in self.checklist_groups() if g.lane == environment or (g.lane == STEP_LANE and environment == last)
        ]

    def manual_actions(self) -> list[tuple[int, Manual]]:
        """(index in ``actions``, action) of every manual action, numbered 1..n by ``/ion done``."""
        return [(i, a) for i, a in enumerate(self.actions) if isinstance(a, Manual)]


class Day(Model):
    number: int = Field(ge=1)
    title: str
    weekday: Weekday | None = None
    objective: str | None = None
    phase: str | None = None
    steps: list[Step] = Field(default_factory=list)


class Phase(Model):
    name: str
    first_day: int
    last_day: int
