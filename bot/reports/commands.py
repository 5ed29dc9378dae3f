"""The report commands behind one port, for a chat layer that takes them together (the Slack app's
``ReportsPort``): each call goes to its own narrow service, nothing else happens here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.engine.ports import Actor
from bot.reports.ports import CostRecorder, FactRecorder, MetricsNow, ReportsOnDemand, ScalingStatusAnswer


@dataclass(frozen=True)
class ReportCommands:
    """`/ion report`, `standup`, `metrics`, `cost`, `record` and `scaling`; each field its own service."""

    reports: ReportsOnDemand
    metrics_now: MetricsNow
    costs: CostRecorder
    facts: FactRecorder
    scaling_status: ScalingStatusAnswer

    async def daily_report(self, channel: str, day: int | None, actor: Actor) -> None:
        await self.reports.daily_report(channel, day, actor)

    async def standup(self, channel: str, actor: Actor) -> None:
        await self.reports.standup(channel, actor)

    async def metrics(self, channel: str, actor: Actor) -> dict[str, Any]:
        return await self.metrics_now.metrics(channel, actor)

    async def record_cost(self, channel: str, service: str, amount: object, actor: Actor) -> str:
        return await self.costs.record_cost(channel, service, amount, actor)

    async def record(self, channel: str, item: str, value: str, note: str | None, actor: Actor) -> str:
        return await self.facts.record(channel, item, value, note, actor)

    async def scaling(self, channel: str, actor: Actor) -> str:
        return await self.scaling_status.scaling(channel, actor)
