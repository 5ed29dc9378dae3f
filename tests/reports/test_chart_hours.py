"""The daily chart's points: the mean of each local hour from midnight to the report time, None for an
hour without data, each point in the hour it falls in (a point on the hour starts the next hour)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from bot.engine.ports import Point, Series
from bot.engine.records import Run, RunState
from bot.reports.gather_metrics import MetricsGatherer
from bot.runbook.loader import load_runbook
from bot.runbook.models import Environment, Metric

CHICAGO = ZoneInfo("America/Chicago")
WEEK17 = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"


@dataclass
class Points:
    """Metrics that answer the same points for every metric, whatever window is asked."""

    points: tuple[Point, ...]

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        return Series(metric.id, self.points)


async def test_each_point_counts_in_its_own_local_hour_and_an_empty_hour_is_none() -> None:
    runbook = load_runbook(WEEK17)
    run = Run("r1", "week17", "C1", date(2026, 11, 2), RunState.ACTIVE, datetime(2026, 11, 2, tzinfo=UTC), "U1")
    midnight = datetime(2026, 11, 2, tzinfo=CHICAGO)
    at = [midnight + timedelta(minutes=m) for m in (0, 30, 59, 60, 61, 180)]  # hours 0, 0, 0, 1, 1, 3
    points = tuple(Point(t.astimezone(UTC), v) for t, v in zip(at, (1.0, 2.0, 3.0, 10.0, 20.0, 7.0), strict=True))
    gatherer = MetricsGatherer(SimpleNamespace(runbook=runbook, metrics=Points(points)))  # type: ignore[arg-type]
    series = await gatherer.chart_series(run, 1, midnight + timedelta(hours=4))
    assert series, "week17 names the chart's metrics"
    hours = series[0].points
    assert [h for h, _ in hours] == [midnight + timedelta(hours=i) for i in range(4)]
    assert [v for _, v in hours] == [2.0, 15.0, None, 7.0]
