"""Where a runbook acts and what it watches: calendar, environments, services, SQL instances, metrics."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from bot.runbook.model_types import Duration, EnvName, Model, Weekday


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
