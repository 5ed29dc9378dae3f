"""A code-built runbook shaped like the seed's Week 17, and fakes for the scheduler's ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from bot.runbook.models import Runbook
from bot.scheduler import JobSkipped

RUN_START = date(2026, 10, 22)  # a Thursday: the run spans the EU (Oct 25) and US (Nov 1) DST changes

WEEK17: dict[str, Any] = {
    "id": "week17-test",
    "title": "ION Mentoring Optimization",
    "week": "17",
    "calendar": {"working_days": 10, "timezone": "America/Chicago"},
    "environments": [
        {"name": "staging", "project": "ion-mentoring-staging"},
        {"name": "production", "project": "ion-mentoring", "production": True},
    ],
    "services": [{"name": "ion-mentoring-api", "regions": ["us-central1", "europe-west1"]}],
    "metrics": [
        {"id": "p95_ms", "title": "Response time P95", "unit": "ms", "baseline": 36.4, "query": {"filter": "p95"}},
        {
            "id": "cache_hit_rate_pct",
            "title": "Combined cache hit rate",
            "unit": "pct",
            "better": "higher",
            "baseline": 82.3,
            "query": {"filter": "hits"},
        },
        {"id": "db_query_ms", "title": "DB query time", "unit": "ms", "baseline": 18.3, "query": {"filter": "db"}},
        {"id": "error_rate_pct", "title": "Error rate", "unit": "pct", "query": {"filter": "errors"}},
    ],
    "roles": [{"id": "lead", "title": "Implementation lead"}, {"id": "manager", "title": "Manager"}],
    "phases": [
        {"name": "Phase 1: Quick Wins", "first_day": 1, "last_day": 5},
        {"name": "Phase 2: Major Optimizations", "first_day": 6, "last_day": 10},
    ],
    "gates": [
        {"id": "preflight", "title": "Go/No-Go Decision", "day": 1, "at": "09:00"},
        {
            "id": "gonogo.day3",
            "title": "Day 3 Go/No-Go",
            "day": 3,
            "at": "17:00",
            "yes_label": "GO to Phase 2",
            "no_label": "PAUSE",
        },
        {
            "id": "gonogo.day10",
            "title": "Week 17 Complete",
            "day": 10,
            "at": "17:00",
            "yes_label": "Proceed to Week 18",
            "no_label": "Extend Week 17",
        },
    ],
    "days": [
        {
            "number": 1,
            "title": "Database Query Optimization",
            "objective": "Reduce query time from 18ms to 15ms",
            "steps": [
                {"id": "day1.1", "title": "Slow Query Analysis", "window": {"start": "09:00", "end": "10:00"}},
                {"id": "day1.2", "title": "Add Database Indexes", "window": {"start": "10:00", "end": "11:00"}},
            ],
        },
        {
            "number": 2,
            "title": "Cost Optimization Phase 1 - Cloud Run",
            "steps": [
                {
                    "id": "day2.1",
                    "title": "Reduce Minimum Instances (US Region)",
                    "window": {"start": "09:00", "end": "10:00"},
                    "objective": "minInstances 3 -> 2 in us-central1",
                    "checklist": [
                        {"id": "healthy", "text": "All instances healthy"},
                        {"id": "no-spike", "text": "No spike in error rate"},
                    ],
                    "approvals": [{"role": "lead"}],
                    "environments": ["staging", "production"],
                    "cost_impact": {"service": "Cloud Run", "monthly_usd": -100},
                    "expected_impact": "-$100/month for US",
                },
                {
                    "id": "day2.2",
                    "title": "Reduce Minimum Instances (EU Region)",
                    "window": {"start": "10:00", "end": "11:00"},
                    "cost_impact": {"service": "Cloud Run", "monthly_usd": -80},
                },
                {
                    "id": "day2.3",
                    "title": "Implement Predictive Scaling",
                    "window": {"start": "11:00", "end": "12:00"},
                    "cost_impact": {"service": "cloud_run", "monthly_usd": -70},
                },
            ],
        },
        {
            "number": 3,
            "title": "Cache Phase 1 - L1 Enhancement",
            "steps": [
                {"id": "day3.1", "title": "Increase L1 Cache Size", "window": {"start": "09:00", "end": "10:00"}},
                {"id": "day3.2", "title": "Implement Cache Warming", "window": {"start": "10:00", "end": "11:00"}},
            ],
        },
        {"number": 4, "title": "Validation & Monitoring", "objective": "Monitor all changes from Days 1-3"},
        {
            "number": 7,
            "title": "Cost Optimization Phase 2",
            "steps": [
                {
                    "id": "day7.1",
                    "title": "Database Downsizing",
                    "cost_impact": {"service": "Cloud SQL", "monthly_usd": -100},
                }
            ],
        },
    ],
    "triggers": [
        {"id": "error_rate", "title": "Error rate > 1% for 5 minutes", "condition": "error_rate_pct > 1 for 5m"},
        {"id": "p95", "title": "Response time P95 > 100ms", "condition": "p95_ms > 100"},
    ],
    "schedule": {
        "daily_report_at": "17:00",
        "standups": [
            {"name": "US", "at": "09:00", "timezone": "America/Chicago"},
            {"name": "EU", "at": "18:00", "timezone": "Europe/Berlin"},
            {"name": "Asia", "at": "22:00", "timezone": "Asia/Singapore"},
        ],
        "standup_agenda": [
            "What was completed yesterday?",
            "What are we doing today?",
            "Any blockers or issues?",
            "Metric updates (cost, performance)",
        ],
        "summary_day": 5,
        "final_report_day": 10,
        "watch_interval": "60s",
    },
    "targets": {
        "performance": [
            {"metric": "p95_ms", "label": "Response Time P95", "current": 36.4, "target": 35},
            {"metric": "cache_hit_rate_pct", "label": "Combined Hit Rate", "current": 82.3, "target": 85},
            {"metric": "db_query_ms", "label": "DB Query Time", "current": 18.3, "target": 15},
        ],
        "cost": [
            {"service": "Cloud Run", "current_usd": 1200, "target_usd": 950},
            {"service": "Cloud SQL", "current_usd": 800, "target_usd": 700},
            {"service": "Cache", "current_usd": 300, "target_usd": 250},
        ],
        "quality": [
            {"label": "Uptime: 99.95%+"},
            {"label": "Error Rate: <0.5%"},
            {"label": "Zero data loss"},
            {"label": "All tests passing"},
            {"label": "No production incidents"},
        ],
        "overall_monthly_savings_usd": -615,
        "expected_results": ["Cost reduction: $200-300/month (50% of total target)"],
    },
}


def week17_runbook(**overrides: Any) -> Runbook:
    data = {**WEEK17, **overrides}
    return Runbook.model_validate(data)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class VirtualClock:
    """Time stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current

    def set(self, now: datetime) -> None:
        self.current = now

    async def sleep(self, seconds: float) -> None:
        return None


class FakeClaimStore:
    """The shared table both replicas claim in: one winner per (job_key, run_id, local_date)."""

    def __init__(self) -> None:
        self.claimed: set[tuple[str, str, str]] = set()
        self.released: list[tuple[str, str, str]] = []
        self.attempts = 0

    async def claim_post(self, job_key: str, run_id: str, local_date: str) -> bool:
        self.attempts += 1
        key = (job_key, run_id, local_date)
        if key in self.claimed:
            return False
        self.claimed.add(key)
        return True

    async def release_post(self, job_key: str, run_id: str, local_date: str) -> None:
        self.released.append((job_key, run_id, local_date))
        self.claimed.discard((job_key, run_id, local_date))


@dataclass
class RecordingCallbacks:
    """Records what the scheduler asked to post, as tuples a test can compare."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail_daily_report: bool = False  # every time
    daily_report_failures: int = 0  # the next N times
    closed_runs: set[str] = field(default_factory=set)  # their jobs find the run finished

    async def post_daily_report(self, run_id: str, day: int, late: bool) -> None:
        if run_id in self.closed_runs:
            raise JobSkipped(f"run {run_id} is finished")
        if self.fail_daily_report or self.daily_report_failures > 0:
            self.daily_report_failures -= 1
            raise RuntimeError("Slack is down")
        self.calls.append(("daily_report", run_id, day, late))

    async def post_standup(self, run_id: str, standup_name: str, day: int, late: bool) -> None:
        self.calls.append(("standup", run_id, standup_name, day, late))

    async def post_gate_reminder(self, run_id: str, gate_id: str, late: bool) -> None:
        self.calls.append(("gate_reminder", run_id, gate_id, late))

    async def post_phase_summary(self, run_id: str, day: int, late: bool) -> None:
        self.calls.append(("phase_summary", run_id, day, late))

    async def post_final_report(self, run_id: str, day: int, late: bool) -> None:
        self.calls.append(("final_report", run_id, day, late))

    async def post_missed_report(self, run_id: str, kind: str, day: int, text: str) -> None:
        self.calls.append(("missed", run_id, kind, day, text))

    async def apply_scaling_rules(self, run_id: str, at: datetime) -> None:
        self.calls.append(("scaling", run_id, at))

    async def watch_triggers(self, run_id: str, at: datetime) -> None:
        self.calls.append(("watch", run_id, at))
