"""Small runbooks and fakes for the trigger tests: built in code, independent of runbooks/week17.yaml."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.engine.ports import AlertRecord, Event, Point, Series
from bot.engine.records import Run, StepLane
from bot.engine.triggers import slot_of
from bot.runbook.models import Runbook

T0 = datetime(2026, 11, 17, 20, 0, tzinfo=UTC)  # Tuesday, 14:00 in Chicago (day 2 of a run from Mon 16th)
RUN_START = datetime(2026, 11, 16).date()

SEED_TRIGGERS: list[dict[str, Any]] = [
    {
        "id": "error_rate",
        "title": "Error rate",
        "condition": "error_rate_pct > 1 for 5m",
        "auto_rollback_after": "5m",
    },
    {"id": "p95_latency", "title": "P95 latency", "condition": "p95_latency_ms > 100 for 5m"},
    {
        "id": "cache_hit_drop",
        "title": "Cache hit rate drop",
        "condition": "cache_hit_rate_pct < baseline - 5 for 5m",
    },
    {"id": "replication_lag", "title": "Replication lag", "condition": "db_replication_lag_ms > 500 for 2m"},
    {"id": "production_incident", "title": "Production incident", "condition": "incidents > 0"},
]

RUN_REQUESTS = 'metric.type="run.googleapis.com/request_count" resource.labels.service_name="ion-mentoring-api"'


def seed_metrics() -> list[dict[str, Any]]:
    """The part of the seed's catalogue the five triggers use, with Monitoring queries."""
    return [
        {
            "id": "error_rate_pct",
            "title": "Error rate",
            "unit": "pct",
            "ratio": {
                "filter": RUN_REQUESTS,
                "aligner": "ALIGN_RATE",
                "split_by": "metric.labels.response_code_class",
                "numerator_values": ["5xx"],
            },
            "baseline": 0.3,
        },
        {
            "id": "p95_latency_ms",
            "title": "P95 latency",
            "unit": "ms",
            "query": {
                "filter": 'metric.type="run.googleapis.com/request_latencies" '
                'resource.labels.service_name="ion-mentoring-api"',
                "aligner": "ALIGN_PERCENTILE_95",
                "reducer": "REDUCE_PERCENTILE_95",
            },
            "baseline": 36.4,
            "window_aggregate": "max",
        },
        {
            "id": "cache_hit_rate_pct",
            "title": "Cache hit rate",
            "unit": "pct",
            "better": "higher",
            "query": {
                "filter": 'metric.type="custom.googleapis.com/ion/cache_hit_rate"',
                "reducer": "REDUCE_MEAN",
            },
            "baseline": 82.3,
        },
        {
            "id": "db_replication_lag_ms",
            "title": "Replication lag",
            "unit": "ms",
            "query": {
                "filter": 'metric.type="cloudsql.googleapis.com/database/replication/replica_lag"',
                "aligner": "ALIGN_MAX",
                "reducer": "REDUCE_MAX",
            },
            "baseline": 40,
        },
        {"id": "incidents", "title": "Open production incidents", "unit": "count", "source": "incidents"},
    ]


def two_filter_ratio(metric_id: str, *, invert: bool = False) -> dict[str, Any]:
    """The older ratio form: a 5xx numerator and an all-requests denominator, two calls."""
    return {
        "id": metric_id,
        "title": metric_id,
        "unit": "pct",
        "numerator": {
            "filter": RUN_REQUESTS + ' metric.labels.response_code_class="5xx"',
            "aligner": "ALIGN_RATE",
            "reducer": "REDUCE_SUM",
        },
        "denominator": {"filter": RUN_REQUESTS, "aligner": "ALIGN_RATE", "reducer": "REDUCE_SUM"},
        "invert_ratio": invert,
        "better": "higher" if invert else "lower",
    }


def seed_runbook(triggers: Iterable[dict[str, Any]] | None = None, **extra: Any) -> Runbook:
    data: dict[str, Any] = {
        "id": "week17-test",
        "title": "Week 17 (test)",
        "calendar": {"working_days": 10},
        "environments": [
            {"name": "production", "project": "ion-mentoring", "production": True},
            {"name": "staging", "project": "ion-mentoring-staging"},
        ],
        "metrics": seed_metrics(),
        "triggers": list(SEED_TRIGGERS if triggers is None else triggers),
        "schedule": {"daily_report_at": "17:00"},
        **extra,
    }
    return Runbook.model_validate(data)


def series(values: Iterable[float | None], *, end: datetime = T0, step: int = 60, metric: str = "m") -> Series:
    """Points one step apart ending at ``end``; None leaves a gap."""
    listed = list(values)
    points = tuple(
        Point(end - timedelta(seconds=step * (len(listed) - 1 - i)), v) for i, v in enumerate(listed) if v is not None
    )
    return Series(metric, points, float(step))


class InMemoryAlerts:
    """WatchStore fake: alerts in a dict by id (insertion order), with the SQL store's open-slot and
    version rules; runs by id (a run it does not know counts as active); lanes by (run, step, env)."""

    def __init__(self) -> None:
        self.by_id: dict[str, AlertRecord] = {}
        self.runs: dict[str, Run] = {}
        self.step_lanes: dict[tuple[str, str, str], StepLane] = {}
        self.saves = 0

    async def get_run(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    async def lanes(self, run_id: str) -> list[StepLane]:
        return [lane for key, lane in sorted(self.step_lanes.items()) if key[0] == run_id]

    def put_lane(self, lane: StepLane) -> None:
        self.step_lanes[(lane.run_id, lane.step_id, lane.environment)] = lane

    async def active_alerts(self, run_id: str) -> list[AlertRecord]:
        return [a for a in self.by_id.values() if a.run_id == run_id and a.state != "resolved"]

    async def get_alert(self, alert_id: str) -> AlertRecord | None:
        return self.by_id.get(alert_id)

    async def save_alert(self, alert: AlertRecord) -> None:
        self.saves += 1
        self.by_id[alert.id] = alert

    async def open_alert(self, alert: AlertRecord) -> AlertRecord | None:
        slot = slot_of(alert.kind)
        taken = any(
            a.run_id == alert.run_id and a.trigger_id == alert.trigger_id and slot_of(a.kind) == slot
            for a in await self.active_alerts(alert.run_id)
        )
        if taken or alert.id in self.by_id:
            return None
        await self.save_alert(replace(alert, version=1))
        return self.by_id[alert.id]

    async def update_alert(self, alert: AlertRecord) -> AlertRecord | None:
        stored = self.by_id.get(alert.id)
        if stored is None or stored.version != alert.version:
            return None
        await self.save_alert(replace(alert, version=alert.version + 1))
        return self.by_id[alert.id]

    def of_kind(self, kind: str) -> list[AlertRecord]:
        return [a for a in self.by_id.values() if a.kind == kind]


class RecordingNotifier:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def notify(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


class AlertIncidents:
    """IncidentCounter over the alert store: declared incidents that are not resolved."""

    def __init__(self, alerts: InMemoryAlerts) -> None:
        self._alerts = alerts

    async def opened_times(self, run_id: str | None) -> list[datetime]:
        return [
            a.opened_at
            for a in self._alerts.by_id.values()
            if a.kind == "incident" and a.state != "resolved" and (run_id is None or a.run_id == run_id)
        ]

    async def count_open(self, run_id: str | None, at: datetime) -> int:
        return sum(1 for opened in await self.opened_times(run_id) if opened <= at)


class Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"a{self.n}"
