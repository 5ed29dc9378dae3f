"""The actions a step is made of, one model per kind (executing them is bot/actions)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, model_validator

from bot.runbook.model_types import ClockTime, ConditionExpr, Duration, EnvName, Model, RoleId


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
