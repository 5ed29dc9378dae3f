"""A daily chart drawn on a kept figure is byte for byte the chart a new figure gives, whatever came before."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.reports.chart_reuse import daily_chart_png
from bot.reports.charts import ChartSeries, metrics_chart_png

CHICAGO = ZoneInfo("America/Chicago")
METRICS = (  # label, unit, baseline, target, low, high
    ("Response Time P95", "ms", 36.4, 35.0, 20.0, 60.0),
    ("Cache hit rate", "%", 82.3, 85.0, 70.0, 95.0),
    ("Error rate", "%", None, 0.5, 0.0, 3.0),
    ("DB query", "ms", 18.3, 15.0, 5.0, 40.0),
)


def _day(rng: random.Random, day: int) -> list[ChartSeries]:
    """A day's four panels up to a random hour: gaps, spikes past the target, flat stretches."""
    midnight = datetime(2026, 11, 2, tzinfo=CHICAGO) + timedelta(days=day)
    hours = rng.randint(2, 24)
    series = []
    for label, unit, baseline, target, low, high in METRICS:
        spread = (high - low) * rng.choice((0.02, 0.3, 1.0))
        start = rng.uniform(low, high - spread)
        values = [None if rng.random() < 0.12 else start + rng.random() * spread for _ in range(hours)]
        if values.count(None) == len(values):
            values[0] = start
        points = [(midnight + timedelta(hours=h), v) for h, v in enumerate(values)]
        series.append(ChartSeries(label, unit, points, baseline, target))
    return series


def test_a_week_of_days_drawn_on_kept_figures_matches_each_drawn_alone() -> None:
    rng = random.Random(17)
    for day in range(14):
        series = _day(rng, day)
        title = f"Week 17 Day {day + 1} Report: key metrics"
        assert daily_chart_png(title, series) == metrics_chart_png(title, series), f"day {day + 1} differs"


def test_charts_of_other_shapes_in_between_do_not_change_the_next_one() -> None:
    rng = random.Random(4)
    first, second = _day(rng, 0), _day(rng, 1)
    fewer = second[:3]
    no_baseline = [ChartSeries(s.label, s.unit, s.points, None, s.target) for s in second]
    utc = [
        ChartSeries(s.label, s.unit, [(t.astimezone(UTC), v) for t, v in s.points], s.baseline, s.target) for s in first
    ]
    for series in (first, fewer, no_baseline, utc, second, first):
        assert daily_chart_png("Day", series) == metrics_chart_png("Day", series)


def test_a_panel_without_any_data_and_a_chart_without_metrics_are_drawn_as_before() -> None:
    rng = random.Random(9)
    series = _day(rng, 2)
    empty = [series[0], ChartSeries("DB query", "ms", [(t, None) for t, _ in series[1].points], 18.3, 15.0)]
    for chart in (series, empty, [], series):
        assert daily_chart_png("Day", chart) == metrics_chart_png("Day", chart)
