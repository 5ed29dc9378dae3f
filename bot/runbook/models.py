"""The runbook as typed data: what a rollout is made of, validated once at load time.

Models are frozen; the engine never mutates a runbook. Conditions and durations are parsed when it
loads, so a bad one is reported by ``ionbot check`` and not at 5 PM. The models live beside this
module per aggregate (model_types, environments, action_specs, step_models, gate_models,
schedule_models); this one holds the Runbook itself and re-exports every public name.
"""

from __future__ import annotations

from pydantic import Field

from bot.runbook.action_specs import (
    ACTION_KINDS,
    VALUE_UNITS,
    Action,
    ActionBase,
    CloudRunDeploy,
    CloudRunEnv,
    CloudRunScale,
    CloudRunTraffic,
    CloudSqlDelete,
    CloudSqlPromote,
    CloudSqlReplica,
    CloudSqlTier,
    HttpLoad,
    HttpSmoke,
    Manual,
    ManualValue,
    MetricGate,
    ScalingRule,
    ScalingSchedule,
    SqlBenchmark,
    SqlExecute,
    SqlQuery,
    ValueUnit,
    Wait,
)
from bot.runbook.deadlines import Handover, PagerDutyOnCall
from bot.runbook.environments import (
    SPLIT_LABEL,
    Calendar,
    CloudSqlInstance,
    Environment,
    Metric,
    MonitoringQuery,
    Service,
    SplitRatio,
)
from bot.runbook.gate_models import (
    ChecklistSection,
    Gate,
    HealthCheck,
    RecordCount,
    Trigger,
)
from bot.runbook.model_types import (
    ClockTime,
    ConditionExpr,
    Duration,
    EnvName,
    Model,
    RoleId,
    Weekday,
)
from bot.runbook.schedule_models import (
    CostTarget,
    PerformanceTarget,
    QualityTarget,
    Schedule,
    Standup,
    Targets,
    service_key,
)
from bot.runbook.step_models import (
    STEP_LANE,
    ApprovalRule,
    Checklist,
    ChecklistItem,
    CostImpact,
    Day,
    Phase,
    RollbackProcedure,
    Step,
    TimeWindow,
    Verification,
)

__all__ = [
    "ACTION_KINDS",
    "SPLIT_LABEL",
    "STEP_LANE",
    "VALUE_UNITS",
    "Action",
    "ActionBase",
    "ApprovalRule",
    "Calendar",
    "Checklist",
    "ChecklistItem",
    "ChecklistSection",
    "ClockTime",
    "CloudRunDeploy",
    "CloudRunEnv",
    "CloudRunScale",
    "CloudRunTraffic",
    "CloudSqlDelete",
    "CloudSqlInstance",
    "CloudSqlPromote",
    "CloudSqlReplica",
    "CloudSqlTier",
    "ConditionExpr",
    "CostImpact",
    "CostTarget",
    "Day",
    "Duration",
    "EnvName",
    "Environment",
    "Gate",
    "HealthCheck",
    "HttpLoad",
    "HttpSmoke",
    "Manual",
    "ManualValue",
    "Metric",
    "MetricGate",
    "Model",
    "MonitoringQuery",
    "PerformanceTarget",
    "Phase",
    "QualityTarget",
    "RecordCount",
    "Role",
    "RoleId",
    "RollbackProcedure",
    "Runbook",
    "ScalingRule",
    "ScalingSchedule",
    "Schedule",
    "Service",
    "SplitRatio",
    "SqlBenchmark",
    "SqlExecute",
    "SqlQuery",
    "Standup",
    "Step",
    "Targets",
    "TimeWindow",
    "Trigger",
    "ValueUnit",
    "Verification",
    "Wait",
    "Weekday",
    "service_key",
]


class Role(Model):
    id: RoleId = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str


class Runbook(Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: str
    objective: str | None = None
    week: str | None = None
    calendar: Calendar
    environments: list[Environment] = Field(min_length=1)
    services: list[Service] = Field(default_factory=list)
    sql_instances: list[CloudSqlInstance] = Field(default_factory=list)
    metrics: list[Metric] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list)
    phases: list[Phase] = Field(default_factory=list)
    gates: list[Gate] = Field(default_factory=list)
    days: list[Day] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)
    auto_rollback_after: Duration | None = Field(None, description="Default for every trigger.")
    rollback_procedures: list[RollbackProcedure] = Field(default_factory=list)
    schedule: Schedule
    targets: Targets = Field(default_factory=Targets)
    oncall: PagerDutyOnCall | None = Field(None, description="sre_oncall from a PagerDuty schedule.")
    handover: Handover | None = Field(None, description="The overnight handover: who accepts it, by when, else what.")

    # -- lookups used everywhere; cheap because runbooks are small --

    def steps(self) -> list[Step]:
        return [step for day in self.days for step in day.steps]

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps() if s.id == step_id), None)

    def gate(self, gate_id: str) -> Gate | None:
        return next((g for g in self.gates if g.id == gate_id), None)

    def day(self, number: int) -> Day | None:
        return next((d for d in self.days if d.number == number), None)

    def metric(self, metric_id: str) -> Metric | None:
        return next((m for m in self.metrics if m.id == metric_id), None)

    def environment(self, name: str) -> Environment | None:
        return next((e for e in self.environments if e.name == name), None)

    def service(self, name: str) -> Service | None:
        return next((s for s in self.services if s.name == name), None)

    def gates_blocking(self, day: int) -> list[Gate]:
        """Gates that must be decided YES before a step of ``day`` may run."""
        return [g for g in self.gates if g.unlocks_day is not None and g.unlocks_day <= day]
