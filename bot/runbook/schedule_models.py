"""When the bot reports (schedule, standups) and what the rollout aims at (performance, cost, quality)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field

from bot.runbook.model_types import ClockTime, ConditionExpr, Duration, Model


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
