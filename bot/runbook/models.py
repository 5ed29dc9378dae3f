"""The runbook as typed data: what a rollout is made of, validated once at load time.

Models are frozen; the engine never mutates a runbook. Conditions and durations
are parsed here so a bad one is reported by ``ionbot check`` and not at 5 PM.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, model_validator

from bot.runbook.conditions import Condition, parse_condition
from bot.runbook.durations import (
    clock_from_minutes,
    duration_from_seconds,
    format_duration,
    parse_clock,
    parse_duration,
)


def _to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return duration_from_seconds(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("expected a duration such as 5m, 30m or 24h")


def _to_clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads 17:00 as the sexagesimal integer 1020.
        return clock_from_minutes(value)
    if isinstance(value, str):
        return parse_clock(value)
    raise ValueError("expected a time of day such as 09:00 or 17:00")


def _to_condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    if isinstance(value, str):
        return parse_condition(value)
    raise ValueError("expected a condition such as 'error_rate_pct > 1 for 5m'")


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": r"^(\d+[dhms])+$", "examples": ["5m", "24h"]}),
]
ClockTime = Annotated[
    time,
    BeforeValidator(_to_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["17:00"]}),
]
ConditionExpr = Annotated[
    Condition,
    BeforeValidator(_to_condition),
    PlainSerializer(lambda c: c.text or str(c), return_type=str),
    Field(json_schema_extra={"type": "string", "examples": ["error_rate_pct > 1 for 5m"]}),
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RoleId = str
EnvName = str


class Model(BaseModel):
    """Base: frozen, strict about unknown keys so typos are caught by ``ionbot check``."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


# --- calendar, environments, services -------------------------------------------------


def _working_week() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri"]


class Calendar(Model):
    """Day N of a run is the Nth working day from its start date, in the team time zone."""

    working_days: int = Field(ge=1, le=366, description="Number of working days in the rollout.")
    weekdays: list[Weekday] = Field(default_factory=lambda: _working_week())
    timezone: str = Field("America/Chicago", description="IANA zone of the team, e.g. America/Chicago.")


class Environment(Model):
    """A deployment target (GCP project); production ones need four eyes and typed confirmation."""

    name: EnvName
    project: str = Field(description="GCP project id.")
    production: bool = False
    base_url: str | None = Field(None, description="Base URL for HTTP probes, e.g. https://staging.example.dev.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Hosts http.load may target.")
    database: str | None = Field(None, description="Name of the SQL target (from configuration) for sql.*.")
    engine: Literal["mysql", "postgresql", "sqlite"] | None = Field(
        None,
        description="The database engine the runbook's SQL for this environment is written in; sql.* actions "
        "refuse a target of another engine (SQLite stands in for any, translated). Unset: as the target is.",
    )


class Service(Model):
    """A Cloud Run service and the regions it runs in."""

    name: str
    regions: list[str] = Field(min_length=1)


class CloudSqlInstance(Model):
    name: str
    environment: EnvName = "production"
    tier: str | None = Field(None, description="Tier the runbook expects before the rollout.")


# --- metrics ------------------------------------------------------------------------------


class MonitoringQuery(Model):
    """One Cloud Monitoring ``list_time_series`` request, aligned and reduced on the server."""

    filter: str
    aligner: str = Field("ALIGN_MEAN", description="e.g. ALIGN_PERCENTILE_95, ALIGN_RATE, ALIGN_DELTA.")
    reducer: str | None = Field(None, description="e.g. REDUCE_PERCENTILE_95, REDUCE_SUM, REDUCE_MEAN.")
    group_by: list[str] = Field(default_factory=list)
    alignment_period: Duration = timedelta(minutes=1)


SPLIT_LABEL = re.compile(r"^(metric|resource)\.labels?\.([A-Za-z_][A-Za-z0-9_]*)$")


class SplitRatio(MonitoringQuery):
    """A ratio read in one request: all of ``filter``, summed per value of ``split_by``.

    The numerator is the part whose label is in ``numerator_values``; a class Monitoring has no
    series for (no 5xx in a quiet hour) counts as zero, so a healthy service reads 0 %, not "no data".
    """

    reducer: str | None = Field("REDUCE_SUM", description="Must add up: REDUCE_SUM (default) or REDUCE_COUNT.")
    split_by: str = Field(description="The label telling numerator from the rest: metric.labels.response_code_class")
    numerator_values: list[str] = Field(min_length=1, description='Values of split_by that count, e.g. ["5xx"].')

    @model_validator(mode="after")
    def _splittable(self) -> SplitRatio:
        if SPLIT_LABEL.match(self.split_by) is None:
            raise ValueError(
                f"split_by {self.split_by!r} must be a label such as metric.labels.response_code_class "
                "or resource.labels.location"
            )
        if self.reducer not in ("REDUCE_SUM", "REDUCE_COUNT"):
            raise ValueError(f"a ratio's reducer must add up (REDUCE_SUM or REDUCE_COUNT), not {self.reducer}")
        if self.selects_numerator_only():
            raise ValueError(
                f"the ratio's filter keeps only {self.split_by} = numerator values, so every request would "
                "count as an error; filter all requests and let split_by pick the numerator"
            )
        return self

    @property
    def request_group_by(self) -> list[str]:
        """``group_by`` with ``split_by`` added: the server keeps one series per label value."""
        return [*self.group_by, self.split_by] if self.split_by not in self.group_by else list(self.group_by)

    def label_of(self, metric_labels: Mapping[str, str], resource_labels: Mapping[str, str]) -> str | None:
        """The ``split_by`` value of one returned series (None if the server did not keep it)."""
        match = SPLIT_LABEL.match(self.split_by)
        assert match is not None  # validated above
        labels = metric_labels if match.group(1) == "metric" else resource_labels
        return labels.get(match.group(2))

    def selects_numerator_only(self) -> bool:
        """A copied numerator filter (``... AND response_code_class="5xx"``) would make every minute 100 %."""
        values = "|".join(re.escape(v) for v in self.numerator_values)
        return re.search(rf'{re.escape(self.split_by)}\s*=\s*"?(?:{values})"?', self.filter) is not None


class Metric(Model):
    """A catalogue metric: how it is read, its unit, baseline and which direction is better."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    unit: Literal["pct", "ms", "count", "usd", "mb", "ratio", "rps"]
    source: Literal["monitoring", "incidents"] = "monitoring"
    query: MonitoringQuery | None = None
    ratio: SplitRatio | None = Field(
        None, description="Ratio metrics in one request: 100 * (numerator_values) / (all), split by a label."
    )
    numerator: MonitoringQuery | None = Field(
        None, description="Ratio metrics, older form in two requests: 100 * numerator / denominator."
    )
    denominator: MonitoringQuery | None = None
    invert_ratio: bool = Field(False, description="Ratio metrics: report 100 - ratio (availability).")
    baseline: float | None = None
    target: float | None = None
    better: Literal["higher", "lower"] = "lower"
    window_aggregate: Literal["mean", "max", "min", "last", "sum"] = "mean"
    scale: float = Field(
        1.0, description="Multiply readings by this: 1000 turns seconds into ms, 100 a fraction into pct."
    )

    @model_validator(mode="after")
    def _one_reading(self) -> Metric:
        if self.source == "monitoring":
            has_pair = self.numerator is not None or self.denominator is not None
            if has_pair and (self.numerator is None or self.denominator is None):
                raise ValueError("a two-request ratio needs both 'numerator' and 'denominator'")
            readings = (self.query is not None) + (self.ratio is not None) + has_pair
            if readings != 1:
                raise ValueError(
                    "a monitoring metric needs exactly one of 'query', 'ratio', or 'numerator' with 'denominator'"
                )
        return self

    @property
    def queries(self) -> tuple[MonitoringQuery, ...]:
        """The requests one read of this metric sends: one, or two for the older numerator form."""
        return tuple(q for q in (self.query, self.ratio, self.numerator, self.denominator) if q is not None)


# --- actions (one model per kind; executing them is bot/actions) -----------------------


class ActionBase(Model):
    """Fields every action has. ``environments`` limits where it runs (e.g. a staging-only load test)."""

    title: str | None = None
    environments: list[EnvName] | None = Field(None, description="Run only in these environments.")


class CloudRunScale(ActionBase):
    kind: Literal["cloud_run.scale"]
    service: str
    regions: list[str] | Literal["all"] = "all"
    min_instances: int | None = Field(None, ge=0, le=1000)
    max_instances: int | None = Field(None, ge=1, le=1000)

    @model_validator(mode="after")
    def _something(self) -> CloudRunScale:
        if self.min_instances is None and self.max_instances is None:
            raise ValueError("cloud_run.scale needs min_instances, max_instances or both")
        low, high = self.min_instances, self.max_instances
        if low is not None and high is not None and low > high:
            raise ValueError("min_instances must not exceed max_instances")
        return self


class CloudRunEnv(ActionBase):
    kind: Literal["cloud_run.env"]
    service: str
    regions: list[str] | Literal["all"] = "all"
    set: dict[str, str] = Field(default_factory=dict)
    unset: list[str] = Field(default_factory=list)


class CloudRunTraffic(ActionBase):
    kind: Literal["cloud_run.traffic"]
    service: str
    regions: list[str] | Literal["all"] = "all"
    percent: int = Field(ge=0, le=100, description="Share for the target revision; 100 promotes it.")
    to: str = Field("latest", description="'latest' or a revision tag.")
    carries: list[str] = Field(
        default_factory=list,
        description="Tags of earlier canaries the revision sent traffic must carry (their image listed in its "
        "deploy's 'includes', their env in its config, their revision still deployed); refused otherwise.",
    )


class CloudRunDeploy(ActionBase):
    """A new revision with no traffic or a canary share; without ``image`` it keeps the current one."""

    kind: Literal["cloud_run.deploy"]
    service: str
    regions: list[str] | Literal["all"] = "all"
    image: str | None = Field(
        None, description="The image to deploy; absent = the current image (a configuration-only revision)."
    )
    traffic_percent: int = Field(0, ge=0, le=100)
    tag: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    includes: list[str] = Field(
        default_factory=list,
        description="Images this image is built on (cumulative images): what a later promotion checks it carries.",
    )

    @model_validator(mode="after")
    def _new_revision(self) -> CloudRunDeploy:
        if self.image is None and not self.env:
            raise ValueError(
                "cloud_run.deploy needs an image, env or both: with neither there is no new revision to deploy"
            )
        return self


class CloudSqlTier(ActionBase):
    kind: Literal["cloud_sql.tier"]
    instance: str
    tier: str
    timeout: Duration = timedelta(minutes=30)


class CloudSqlReplica(ActionBase):
    """Create a read replica of ``master`` on ``tier`` (instances.insert with masterInstanceName) and
    wait for it; a rollback deletes it again while it is still a replica."""

    kind: Literal["cloud_sql.replica"]
    instance: str = Field(description="Name of the new replica, e.g. ion-primary-small.")
    master: str = Field(description="The primary it replicates (one of sql_instances).")
    tier: str
    region: str | None = Field(None, description="Defaults to the master's region.")
    timeout: Duration = timedelta(minutes=30)


class CloudSqlPromote(ActionBase):
    """Promote a read replica to a standalone primary (instances.promoteReplica). Cloud SQL cannot
    demote it again: a rollback refuses and names ``standby``, the old primary kept as the fallback."""

    kind: Literal["cloud_sql.promote"]
    instance: str = Field(description="The replica to promote.")
    standby: str = Field(description="The old primary, kept as the fallback after the promotion.")
    timeout: Duration = timedelta(minutes=30)


class CloudSqlDelete(ActionBase):
    """Delete the standby once ``after_promotion_of`` has been promoted for ``keep_for`` (instances.delete).
    Deleting cannot be undone; the step's approvals are what allows it."""

    kind: Literal["cloud_sql.delete"]
    instance: str = Field(description="The standby to delete.")
    after_promotion_of: str = Field(description="The instance whose promotion starts the keep period.")
    keep_for: Duration = timedelta(hours=48)
    timeout: Duration = timedelta(minutes=30)


class HttpSmoke(ActionBase):
    kind: Literal["http.smoke"]
    path: str = Field(description="Path under the environment's base_url, or a full URL.")
    requests: int = Field(ge=1, le=10_000)
    concurrency: int = Field(10, ge=1, le=500)
    max_p95_ms: float | None = None
    max_error_rate_pct: float = 0.0
    timeout: Duration = timedelta(seconds=10)
    duration: Duration | None = Field(
        None,
        description="Spread the requests evenly over this long (the seed's '10-minute smoke test'); "
        "absent: send them as fast as concurrency allows. The prober's configured limits still cap it.",
    )


class HttpLoad(ActionBase):
    kind: Literal["http.load"]
    path: str
    rate_rps: float = Field(gt=0)
    concurrency: int = Field(ge=1, le=2000)
    duration: Duration
    max_requests: int = Field(ge=1)
    hold: bool = Field(
        False,
        description="Run for the whole duration at rate_rps (the request cap is raised to rate x duration); "
        "default: stop at the first of the duration and max_requests. The prober's configured limits still cap it.",
    )
    max_p95_ms: float | None = None
    max_error_rate_pct: float | None = None


class SqlQuery(ActionBase):
    kind: Literal["sql.query"]
    sql: str
    row_cap: int = Field(50, ge=1, le=10_000)
    expect: str | None = Field(None, description="Text that must appear in the result (e.g. an index name).")


_INDEX_STATEMENT = re.compile(r"\s*(?:CREATE\s+(?:UNIQUE\s+)?|DROP\s+)INDEX\b", re.IGNORECASE)
_DATA_CHANGE = re.compile(r"\s*(?:UPDATE|INSERT|DELETE)\b", re.IGNORECASE)
_CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", re.IGNORECASE)


class SqlExecute(ActionBase):
    """A schema change (CREATE/DROP INDEX, CREATE TABLE) or a capped data change, with its undo.

    A data change (UPDATE / INSERT / DELETE) cannot be read back from the schema, so it needs a
    ``verify_sql`` that says whether it is in place and a ``max_rows`` cap on what it may touch.
    """

    kind: Literal["sql.execute"]
    sql: str
    revert_sql: str = Field(description="Statement that undoes this one exactly (DROP INDEX ...).")
    verify_sql: str | None = Field(
        None,
        description="Query run after apply; must return rows. For a data change: one value, true when it is in place.",
    )
    verify_expect: str | None = None
    concurrently: bool = Field(
        False,
        description="Build / drop the index with CONCURRENTLY on PostgreSQL (outside a transaction, writes "
        "continue); SQLite has no concurrent build and runs the plain form.",
    )
    max_rows: int | None = Field(
        None, ge=1, description="Data changes only: more changed rows than this rolls the statement back."
    )

    @model_validator(mode="after")
    def _trackable(self) -> SqlExecute:
        statements = (self.sql, self.revert_sql)
        if not self.concurrently and any(_CONCURRENTLY.search(s) for s in statements):
            raise ValueError(
                "sql.execute: write the plain CREATE / DROP INDEX and set concurrently: true, so it runs "
                "outside a transaction on PostgreSQL and a failed build's INVALID index is found"
            )
        if self.concurrently and not all(_INDEX_STATEMENT.match(s) for s in statements):
            raise ValueError("sql.execute: concurrently applies to CREATE INDEX / DROP INDEX (sql and revert_sql)")
        if _DATA_CHANGE.match(self.sql):
            if not _DATA_CHANGE.match(self.revert_sql):
                raise ValueError("sql.execute: the revert_sql of an UPDATE / INSERT / DELETE must be one too")
            if self.verify_sql is None or self.max_rows is None:
                raise ValueError(
                    "sql.execute: an UPDATE / INSERT / DELETE needs verify_sql (one value: true when the change "
                    "is in place) and max_rows (how many rows it may change)"
                )
            if self.verify_expect is not None:
                raise ValueError("sql.execute: a data change is verified by verify_sql's value; drop verify_expect")
        elif self.max_rows is not None:
            raise ValueError("sql.execute: max_rows applies to UPDATE / INSERT / DELETE only")
        return self


class SqlBenchmark(ActionBase):
    kind: Literal["sql.benchmark"]
    queries: list[str] = Field(min_length=1)
    repeat: int = Field(20, ge=1, le=10_000)
    max_mean_ms: float | None = None
    max_p95_ms: float | None = None


class MetricGate(ActionBase):
    kind: Literal["metric.gate"]
    condition: ConditionExpr


class Wait(ActionBase):
    kind: Literal["wait"]
    duration: Duration
    reason: str | None = None


VALUE_UNITS: tuple[str, ...] = ("%", "ms", "s", "min", "h", "B", "KB", "MB", "GB", "KiB", "MiB", "GiB", "count", "rps")
ValueUnit = Literal["%", "ms", "s", "min", "h", "B", "KB", "MB", "GB", "KiB", "MiB", "GiB", "count", "rps", "link"]


class ManualValue(Model):
    """The evidence a manual action asks for: a number in ``unit`` (``67%``, ``512 MiB``) or a link."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="What the number is, as 'accept' names it.")
    unit: ValueUnit = Field(description="%, ms, s, min, h, B, KB, MB, GB, KiB, MiB, GiB, count, rps, or link.")
    metric: str | None = Field(None, description="A catalogue metric the card shows beside it (its live reading).")
    from_baseline: bool = Field(False, description="The value is the rise of 'metric' over its baseline.")


class Manual(ActionBase):
    """Something a person does; the step waits until they press Done (and give the value it asks for)."""

    kind: Literal["manual"]
    id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="For /ion done STEP ITEM.")
    instruction: str
    by: RoleId | None = Field(None, description="The role that presses Done; absent: anyone on the team.")
    value: ManualValue | None = None
    accept: ConditionExpr | None = Field(None, description="Checks the value, e.g. 'cache_hit_pct > 65'.")

    @model_validator(mode="after")
    def _acceptable(self) -> Manual:
        if self.accept is None:
            return self
        if self.value is None:
            raise ValueError("a manual action's 'accept' needs a 'value' to check (name and unit)")
        if self.value.unit == "link":
            raise ValueError("a link cannot be compared; drop 'accept' or ask for a number")
        if self.accept.metric != self.value.name:
            raise ValueError(f"'accept' must compare the value '{self.value.name}', not '{self.accept.metric}'")
        if self.accept.mode != "latest" or self.accept.threshold.relative_to_baseline:
            raise ValueError("'accept' compares the entered value with a number, e.g. 'cache_hit_pct > 65'")
        return self


class ScalingRule(Model):
    """One time-of-day window; hours are [start, end) in the rule set's time zone."""

    name: str
    start: ClockTime
    end: ClockTime
    min_instances: int = Field(ge=0)
    max_instances: int = Field(ge=1)


class ScalingSchedule(ActionBase):
    kind: Literal["scaling.schedule"]
    service: str
    regions: list[str] | Literal["all"] = "all"
    timezone: str | None = Field(None, description="Defaults to the calendar's time zone.")
    rules: list[ScalingRule] = Field(min_length=1)
    otherwise: ScalingRule = Field(description="Applies outside every rule ('Other').")


Action = Annotated[
    CloudRunScale
    | CloudRunEnv
    | CloudRunTraffic
    | CloudRunDeploy
    | CloudSqlTier
    | CloudSqlReplica
    | CloudSqlPromote
    | CloudSqlDelete
    | HttpSmoke
    | HttpLoad
    | SqlQuery
    | SqlExecute
    | SqlBenchmark
    | MetricGate
    | Wait
    | Manual
    | ScalingSchedule,
    Field(discriminator="kind"),
]

ACTION_KINDS: tuple[str, ...] = (
    "cloud_run.scale",
    "cloud_run.env",
    "cloud_run.traffic",
    "cloud_run.deploy",
    "cloud_sql.tier",
    "cloud_sql.replica",
    "cloud_sql.promote",
    "cloud_sql.delete",
    "http.smoke",
    "http.load",
    "sql.query",
    "sql.execute",
    "sql.benchmark",
    "metric.gate",
    "wait",
    "manual",
    "scaling.schedule",
)


# --- steps, gates --------------------------------------------------------------------------


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


# --- triggers, schedule, targets, roles ----------------------------------------------------


class Trigger(Model):
    """A run-wide rollback trigger, watched continuously against production."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    condition: ConditionExpr
    environment: EnvName = "production"
    auto_rollback_after: Duration | None = None


class Standup(Model):
    name: str
    at: ClockTime
    timezone: str
    channel: str | None = Field(None, description="Defaults to the run's channel.")


class Schedule(Model):
    daily_report_at: ClockTime
    standups: list[Standup] = Field(default_factory=list)
    standup_duration: Duration = timedelta(minutes=15)
    standup_agenda: list[str] = Field(default_factory=list)
    summary_day: int | None = Field(None, description="Day of the Phase 1 summary report.")
    final_report_day: int | None = None
    final_report_at: ClockTime | None = None
    watch_interval: Duration = timedelta(seconds=60)
    standup_posts: Literal["per_zone", "single"] = Field(
        "per_zone", description="per_zone: one post per standup, one shared snapshot; single: one post, all times."
    )
    standup_attendees: list[str] = Field(
        default_factory=list, description="Roles mentioned in each standup (ION_ROLES members); empty: every role."
    )
    scaling_posts: Literal["daily", "hourly"] = Field(
        "daily", description="daily: scaling changes summarised in the daily report; hourly: a post per change."
    )
    report_email_to: list[str] = Field(
        default_factory=list, description="Addresses the daily, summary and final reports are emailed to."
    )


class PerformanceTarget(Model):
    metric: str
    label: str
    current: float
    target: float


def service_key(name: str) -> str:
    """Match "Cloud Run", "cloud_run" and "cloud-run" as the same service (cost targets, impacts, bills)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


class CostTarget(Model):
    service: str
    current_usd: float
    target_usd: float

    @property
    def savings_usd(self) -> float:
        return self.target_usd - self.current_usd


class QualityTarget(Model):
    label: str
    condition: ConditionExpr | None = Field(None, description="Checked from metrics when given.")


class Targets(Model):
    performance: list[PerformanceTarget] = Field(default_factory=list)
    cost: list[CostTarget] = Field(default_factory=list)
    quality: list[QualityTarget] = Field(default_factory=list)
    overall_monthly_savings_usd: float | None = Field(None, description="Whole-programme target (-615).")
    savings_pct: float | None = Field(None, description="The total saving as a percent, as the guide states it (16).")
    overall_by: str | None = Field(None, description="When the whole-programme target is due (Week 18).")
    expected_results: list[str] = Field(default_factory=list)
    notes: str | None = None


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
