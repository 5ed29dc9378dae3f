"""Catalogue metrics from Cloud Monitoring: one aligned, reduced list_time_series call per metric.

The server does the alignment and the cross-series reduction, so a 10-minute window comes back as
about ten points instead of raw per-instance series. A ratio metric (error rate, availability) is
one call grouped by the label that tells errors apart (``ratio.split_by``), divided here; the older
two-filter form (``numerator`` and ``denominator``) still works and costs two calls.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions as google_errors
from google.cloud import monitoring_v3

from bot.engine.ports import Point, Series
from bot.runbook.models import Environment, Metric, MonitoringQuery, SplitRatio

_SUMMING_REDUCERS = {"REDUCE_SUM", "REDUCE_COUNT", "REDUCE_COUNT_TRUE", "REDUCE_COUNT_FALSE"}


class MetricsUnavailable(Exception):
    """Cloud Monitoring refused or failed a read; the message says what to do."""


class CloudMonitoringSource:
    """``MetricsSource`` over ``MetricServiceAsyncClient`` (gRPC; the library has no REST transport)."""

    def __init__(self, client: monitoring_v3.MetricServiceAsyncClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> monitoring_v3.MetricServiceAsyncClient:
        if self._client is None:  # created lazily: it needs credentials and a running loop
            self._client = monitoring_v3.MetricServiceAsyncClient()
        return self._client

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        if metric.ratio is not None:
            return await self._split_ratio(metric, metric.ratio, environment, start, end)
        if metric.query is not None:
            points = await self._query(metric, metric.query, environment, start, end)
            if metric.scale != 1.0:  # e.g. replica lag in seconds -> ms, CPU as a fraction -> pct
                points = {at: value * metric.scale for at, value in points.items()}
            return Series(metric.id, _ordered(points), metric.query.alignment_period.total_seconds())
        if metric.numerator is None or metric.denominator is None:
            raise MetricsUnavailable(
                f"Metric {metric.id} has no Monitoring query in the runbook, so it cannot be read; "
                "give it a 'query' or a 'ratio'."
            )
        numerator, denominator = await asyncio.gather(
            self._query(metric, metric.numerator, environment, start, end),
            self._query(metric, metric.denominator, environment, start, end),
        )
        ratio = _ratio(metric, numerator, denominator)
        return Series(metric.id, ratio, metric.denominator.alignment_period.total_seconds())

    async def read_history(
        self, metric: Metric, environment: Environment, start: datetime, end: datetime, alignment: timedelta
    ) -> Series:
        """A past period for a backtest, aligned server-side at ``alignment`` (the watcher's poll
        interval): the same one call per query (paged), whatever the period's length."""
        return await self.read(aligned_at(metric, alignment), environment, start, end)

    async def _split_ratio(
        self, metric: Metric, ratio: SplitRatio, environment: Environment, start: datetime, end: datetime
    ) -> Series:
        """One call, one series per ``split_by`` value: all of them are the total, some the numerator."""
        request = build_request(ratio, environment, start, end)
        totals: dict[datetime, list[float]] = defaultdict(list)
        parts: dict[datetime, list[float]] = defaultdict(list)
        for series in await self._list(metric, environment, request):
            counted = ratio.label_of(series.metric.labels, series.resource.labels) in ratio.numerator_values
            for at, value in _values(series):
                totals[at].append(value)
                if counted:
                    parts[at].append(value)
        numerator = {at: math.fsum(values) for at, values in parts.items()}
        denominator = {at: math.fsum(values) for at, values in totals.items()}
        return Series(metric.id, _ratio(metric, numerator, denominator), ratio.alignment_period.total_seconds())

    async def _query(
        self, metric: Metric, query: MonitoringQuery, environment: Environment, start: datetime, end: datetime
    ) -> dict[datetime, float]:
        """One list_time_series call (following pages); several returned series are merged by time."""
        by_time: dict[datetime, list[float]] = defaultdict(list)
        for series in await self._list(metric, environment, build_request(query, environment, start, end)):
            for at, value in _values(series):
                by_time[at].append(value)
        merge = math.fsum if query.reducer in _SUMMING_REDUCERS else _mean
        return {at: merge(values) for at, values in by_time.items()}

    async def _list(
        self, metric: Metric, environment: Environment, request: dict[str, Any]
    ) -> list[monitoring_v3.TimeSeries]:
        """Every series of one list_time_series call, following pages."""
        try:
            pager = await self.client.list_time_series(request=request)
            return [series async for series in pager]
        except google_errors.GoogleAPICallError as exc:
            raise MetricsUnavailable(
                f"Cloud Monitoring did not answer for {metric.id} in project {environment.project} "
                f"({type(exc).__name__}: {exc.message}); nothing was changed. Check that the bot's "
                "service account has roles/monitoring.viewer and that the filter in the runbook is valid."
            ) from exc


def build_request(query: MonitoringQuery, environment: Environment, start: datetime, end: datetime) -> dict[str, Any]:
    """The exact ListTimeSeries request for one catalogue query (tests assert on it)."""
    aggregation: dict[str, Any] = {
        "alignment_period": {"seconds": int(query.alignment_period.total_seconds())},
        "per_series_aligner": query.aligner,
    }
    if query.reducer:
        aggregation["cross_series_reducer"] = query.reducer
        group_by = query.request_group_by if isinstance(query, SplitRatio) else query.group_by
        aggregation["group_by_fields"] = list(group_by)
    return {
        "name": f"projects/{environment.project}",
        "filter": query.filter,
        "interval": {"start_time": _timestamp(start), "end_time": _timestamp(end)},
        "aggregation": aggregation,
        "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    }


def aligned_at(metric: Metric, alignment: timedelta) -> Metric:
    """The metric with every Monitoring query aligned at ``alignment`` instead of its own period."""
    update = {
        name: query.model_copy(update={"alignment_period": alignment})
        for name in ("query", "ratio", "numerator", "denominator")
        if (query := getattr(metric, name)) is not None
    }
    return metric.model_copy(update=update)


def _ratio(metric: Metric, numerator: dict[datetime, float], denominator: dict[datetime, float]) -> tuple[Point, ...]:
    """100 * numerator / denominator per minute; the denominator decides whether a minute has data.

    Monitoring has no 5xx series (or point) for a minute without 5xx, so a missing numerator is 0.
    """
    ratio: dict[datetime, float] = {}
    for at, total in denominator.items():
        if total <= 0:
            continue  # no traffic in that minute: no ratio, rather than a made-up 0 %
        share = 100.0 * numerator.get(at, 0.0) / total
        ratio[at] = 100.0 - share if metric.invert_ratio else share
    return _ordered(ratio)


def _values(series: monitoring_v3.TimeSeries) -> list[tuple[datetime, float]]:
    """A series' (end time, number) pairs, leaving out points without a number."""
    found = ((_utc(point.interval.end_time), point_value(point)) for point in series.points)
    return [(at, value) for at, value in found if value is not None]


def point_value(point: Any) -> float | None:
    """A point's number: double, int64, or a distribution's mean (None for empty distributions)."""
    typed = monitoring_v3.TypedValue.pb(point.value)
    which = typed.WhichOneof("value")
    if which == "double_value":
        return float(typed.double_value)
    if which == "int64_value":
        return float(typed.int64_value)
    if which == "distribution_value":
        return float(typed.distribution_value.mean) if typed.distribution_value.count else None
    if which == "bool_value":
        return 1.0 if typed.bool_value else 0.0
    return None


def _timestamp(at: datetime) -> dict[str, int]:
    seconds = at.timestamp()
    whole = math.floor(seconds)
    return {"seconds": whole, "nanos": round((seconds - whole) * 1e9)}


def _utc(value: datetime) -> datetime:
    at = value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(at.timestamp(), UTC)


def _ordered(values: dict[datetime, float]) -> tuple[Point, ...]:
    return tuple(Point(at, value) for at, value in sorted(values.items()))


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)
