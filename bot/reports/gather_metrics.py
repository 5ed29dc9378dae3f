"""The report's measurements: the headline metrics at the report time and the day's hourly charts,
read from the metrics backend over production; a metric that cannot be read is "no data"."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import structlog

from bot.engine.calendar import RunCalendar
from bot.engine.ports import Point
from bot.engine.records import Run
from bot.engine.report_model import MetricReading
from bot.reports.charts import ChartSeries
from bot.runbook.models import Environment, Metric, Runbook

if TYPE_CHECKING:
    from bot.bootstrap import Bot

log = structlog.get_logger(__name__)

REPORT_METRICS: tuple[str, ...] = (
    "p95_latency_ms",
    "response_time_ms",
    "cache_hit_rate_pct",
    "db_query_ms",
    "error_rate_pct",
    "availability_pct",
)
CHART_METRICS: tuple[str, ...] = ("p95_latency_ms", "cache_hit_rate_pct", "error_rate_pct", "db_query_ms")
READING_WINDOW = timedelta(minutes=15)


def production_environment(runbook: Runbook) -> Environment:
    return next((e for e in runbook.environments if e.production), runbook.environments[-1])


def day_span(runbook: Runbook, run: Run, first_day: int, last_day: int) -> tuple[datetime, datetime]:
    """Local midnight of ``first_day`` to local midnight after ``last_day``, as aware datetimes."""
    zone = ZoneInfo(runbook.calendar.timezone)
    calendar = RunCalendar(runbook, run.start_date)
    start = datetime.combine(calendar.date_of(first_day), time(0), zone)
    end = datetime.combine(calendar.date_of(last_day) + timedelta(days=1), time(0), zone)
    return start, end


class MetricsGatherer:
    """Reads the runbook's report metrics for one report."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.runbook: Runbook = bot.runbook

    def report_metrics(self) -> list[Metric]:
        """The performance targets' metrics, then the other headline metrics the runbook defines."""
        wanted = [t.metric for t in self.runbook.targets.performance] + list(REPORT_METRICS)
        chosen: list[Metric] = []
        for metric_id in dict.fromkeys(wanted):
            metric = self.runbook.metric(metric_id)
            if metric is not None and metric.source == "monitoring":
                chosen.append(metric)
        return chosen

    async def metrics(self, now: datetime) -> list[MetricReading]:
        environment = production_environment(self.runbook)
        readings: list[MetricReading] = []
        for metric in self.report_metrics():
            points = await self._points(metric, environment, now - READING_WINDOW, now)
            value = aggregate([p.value for p in points], metric.window_aggregate)
            readings.append(MetricReading(metric.id, value, metric.baseline, metric.target, metric.unit))
        return readings

    async def _points(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> list[Point]:
        try:
            series = await self.bot.metrics.read(metric, environment, start, end)
        except Exception as error:  # an unreadable metric is "no data", never healthy and never a crash
            log.warning("report metric unreadable", metric=metric.id, error=str(error))
            return []
        return [p for p in series.points if start <= p.at <= end and math.isfinite(p.value)]

    async def chart_series(self, run: Run, day: int, now: datetime) -> list[ChartSeries]:
        """Hourly points (the mean of each hour; None when empty) from local midnight to the report time."""
        start, end = day_span(self.runbook, run, day, day)
        until = min(end, now)
        environment = production_environment(self.runbook)
        series: list[ChartSeries] = []
        for metric_id in CHART_METRICS:
            metric = self.runbook.metric(metric_id)
            if metric is None:
                continue
            points = await self._points(metric, environment, start, until) if until > start else []
            starts: list[datetime] = []
            hour = start
            while hour < until:
                starts.append(hour)
                hour = hour + timedelta(hours=1)
            # One pass over the points (not one scan per hour): bisect finds each point's hour, on
            # POSIX timestamps (comparing zone-aware datetimes converts both at every step).
            begins = [hour.timestamp() for hour in starts]
            ends = [(hour + timedelta(hours=1)).timestamp() for hour in starts]
            buckets: dict[int, list[float]] = {}
            for p in points:
                at = p.at.timestamp()
                index = bisect_right(begins, at) - 1
                if index >= 0 and at < ends[index]:
                    buckets.setdefault(index, []).append(p.value)
            hours: list[tuple[datetime, float | None]] = []
            for index, hour in enumerate(starts):
                values = buckets.get(index, [])
                hours.append((hour, sum(values) / len(values) if values else None))
            target = next((t.target for t in self.runbook.targets.performance if t.metric == metric_id), metric.target)
            series.append(ChartSeries(metric.title, metric.unit, hours, metric.baseline, target))
        return series


def aggregate(values: Sequence[float], how: str) -> float | None:
    """The metric's window aggregate of ``values``; None (no data) when there are none."""
    if not values:
        return None
    reducers: dict[str, Any] = {"max": max, "min": min, "last": lambda v: v[-1], "sum": math.fsum}
    if how in reducers:
        return float(reducers[how](values))
    return math.fsum(values) / len(values)
