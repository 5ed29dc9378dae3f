"""A backtest chart drawn on the kept figure of the chart before it is byte for byte the chart a new figure gives."""

from __future__ import annotations

import random

import numpy as np
import pytest

from bot.backtest.chart_draw import MetricChart, draw, draw_on_kept_figure

START = 20_740.0  # days since the epoch: a Monday in October 2026
COLOURS = ("#d62728", "#ff7f0e", "#2ca02c")


def _chart(rng: random.Random, metric: str) -> MetricChart:
    """Three weeks of buckets (or none), up to three thresholds inside or outside the data, shaded spans."""
    weeks = rng.choice((1, 3))
    end = START + 7 * weeks
    count = rng.choice((0, 300, 1500))
    days = np.linspace(START, end, count, endpoint=False)
    level = rng.uniform(0.1, 500.0)
    low = level * (1 + np.array([rng.uniform(-0.2, 0.1) for _ in range(count)]))
    high = low + level * np.array([rng.uniform(0.0, 0.5) for _ in range(count)])
    thresholds = tuple(
        (round(level * rng.uniform(0.3, 3.0), 1), rng.choice(COLOURS), f"{metric} > {n}")
        for n in range(rng.randint(0, 3))
    )
    spans = []
    for _ in range(rng.randint(0, 5)):
        first = rng.uniform(START, end - 0.5)
        spans.append(
            (first, first + rng.uniform(0.01, 0.5), rng.choice((*COLOURS, "#7f7f7f")), rng.choice((0.25, 0.15)))
        )
    return MetricChart(metric, days, low, high, thresholds, tuple(spans), START, end, -(-7 * weeks // 14))


@pytest.mark.filterwarnings("ignore:No artists with labels")  # a chart without data or thresholds
def test_a_backtests_charts_drawn_in_a_row_on_the_kept_figure_match_each_drawn_alone() -> None:
    rng = random.Random(17)
    for n in range(16):
        chart = _chart(rng, f"metric_{n}")
        assert draw_on_kept_figure(chart) == draw(chart), f"chart {n} differs"
