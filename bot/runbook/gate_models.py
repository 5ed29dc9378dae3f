"""Go/No-Go gates (health checks, sections, sign-offs) and the run-wide rollback triggers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bot.runbook.deadlines import Deadline
from bot.runbook.model_types import ClockTime, ConditionExpr, Duration, EnvName, Model, RoleId
from bot.runbook.step_models import ChecklistItem

RecordCount = Literal["incidents", "trigger_breaches", "steps_done", "triggers_backtested"]


class HealthCheck(Model):
    """A gate's check: a metric condition, or a count of what the run recorded (``counts``).

    ``counts`` reads the gate's window (from the start of its phase to now, see bot/engine/gate_evidence.py):
    ``incidents`` every fired rollback trigger, rollback and declared incident; ``trigger_breaches``
    every rollback trigger whose condition held in the metrics of the window; ``steps_done`` every step
    of the days up to the gate's that is not done everywhere (rolled back and not re-run included).
    """

    label: str
    condition: ConditionExpr | None = None
    counts: RecordCount | None = Field(
        None,
        description="incidents, trigger_breaches, steps_done or triggers_backtested (instead of a condition).",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> HealthCheck:
        if (self.condition is None) == (self.counts is None):
            raise ValueError("a health check needs exactly one of 'condition' or 'counts'")
        return self


class ChecklistSection(Model):
    title: str
    items: list[ChecklistItem] = Field(min_length=1)


class Gate(Model):
    """A Go/No-Go: health checks, manual sections, a YES/NO decision and sign-offs.

    Steps on ``unlocks_day`` and later cannot run until this gate is decided YES.
    """

    id: str = Field(pattern=r"^(preflight|gonogo\.day\d+)$")
    title: str
    day: int = Field(ge=1)
    at: ClockTime
    health_checks: list[HealthCheck] = Field(default_factory=list)
    sections: list[ChecklistSection] = Field(default_factory=list)
    yes_label: str = Field("YES - Proceed", max_length=75)  # Slack cuts a button's text at 75 characters
    no_label: str = Field("NO - Postpone", max_length=75)
    signoffs: list[RoleId] = Field(default_factory=list)
    unlocks_day: int | None = None
    deadline: Deadline | None = Field(None, description="When the decision is due (default: its 'at' time + 2h).")


# --- triggers, schedule, targets, roles ----------------------------------------------------


class Trigger(Model):
    """A run-wide rollback trigger, watched continuously against production."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    condition: ConditionExpr
    environment: EnvName = "production"
    auto_rollback_after: Duration | None = None
