"""One PNG per metric: its history, every threshold the runbook sets on it, the would-be firings shaded.

Four weeks of minutes are drawn as a min/max envelope of about 1,500 buckets (a line through 40,000
points looks the same and takes seconds). ``chart_spec`` turns a metric's result into plain numbers
(``MetricChart``: picklable, small); bot/backtest/chart_draw.py turns those into the PNG, in the
chart process (bot/reports/chart_worker.py), so the bot's interpreter stays free while it draws.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

import numpy as np

from bot.backtest.chart_draw import MetricChart, draw, draw_on_kept_figure
from bot.backtest.run import Line, Result
from bot.backtest.timeline import History, Ints, micros, moment
from bot.reports.chart_worker import ChartWorker, shared_worker

BUCKETS = 1500
US_PER_DAY = 86_400_000_000
COLOURS = {"red": "#d62728", "amber": "#ff7f0e", "green": "#2ca02c"}
NO_DATA = "#7f7f7f"


def metric_charts(result: Result, histories: dict[str, History], worker: ChartWorker | None = None) -> dict[str, bytes]:
    """metric id -> PNG bytes, for every metric a condition of the result reads; drawn in the chart process."""
    charts = worker if worker is not None else shared_worker()
    by_metric: dict[str, list[Line]] = defaultdict(list)
    for line in result.lines:
        by_metric[line.subject.condition.metric].append(line)
    # Every chart is asked for before the first is awaited: the child draws while the specs are built.
    futures: dict[str, Future[bytes]] = {
        metric: charts.submit(
            draw_on_kept_figure, chart_spec(metric, histories[metric], lines, result.start, result.end)
        )
        for metric, lines in by_metric.items()
        if metric in histories
    }
    return {metric: future.result() for metric, future in futures.items()}


def chart_png(metric: str, history: History, lines: list[Line], start: datetime, end: datetime) -> bytes:
    """One metric's chart drawn here, in this process (tests; the bot draws through ``metric_charts``)."""
    return draw(chart_spec(metric, history, lines, start, end))


def chart_spec(metric: str, history: History, lines: list[Line], start: datetime, end: datetime) -> MetricChart:
    """The envelope, thresholds and shaded spans of one metric over [start, end]."""

    def x(at: datetime) -> float:
        return micros(at) / US_PER_DAY

    times, low, high = _envelope(history, start, end)
    thresholds, spans = _thresholds_and_spans(lines, x, end)
    days = max(1, (end - start).days)
    return MetricChart(metric, times / US_PER_DAY, low, high, thresholds, spans, x(start), x(end), -(-days // 14))


def _thresholds_and_spans(
    lines: list[Line], x: Callable[[datetime], float], end: datetime
) -> tuple[tuple[tuple[float, str, str], ...], tuple[tuple[float, float, str, float], ...]]:
    """Each threshold once (dashed, in its verdict's colour), would-be firings shaded, no data in grey.

    The spans keep the order the chart always drew them in (line by line, firings before no data),
    so overlapping shades blend exactly as before."""
    seen: set[float] = set()
    thresholds: list[tuple[float, str, str]] = []
    spans: list[tuple[float, float, str, float]] = []
    for line in lines:
        colour = COLOURS[line.verdict.colour]
        if line.limit is not None and line.limit not in seen:
            seen.add(line.limit)
            thresholds.append((line.limit, colour, line.subject.text))
        if line.subject.alerting:
            spans.extend((x(s.opened_at), x(s.resolved_at or end), colour, 0.25) for s in line.firings)
        spans.extend((x(s.opened_at), x(s.resolved_at or end), NO_DATA, 0.15) for s in line.no_data)
    return tuple(thresholds), tuple(spans)


def _envelope(history: History, start: datetime, end: datetime) -> tuple[Ints, np.ndarray, np.ndarray]:
    """Bucketed minimum and maximum over [start, end] (times in microseconds), so the chart keeps every spike."""
    lo_us = int((start - moment(0)).total_seconds() * 1e6)
    hi_us = int((end - moment(0)).total_seconds() * 1e6)
    keep = (history.times >= lo_us) & (history.times <= hi_us)
    times, values = history.times[keep], history.values[keep]
    if not len(times):
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    edges = np.linspace(lo_us, hi_us, BUCKETS + 1)
    bucket = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, BUCKETS - 1)
    starts = np.flatnonzero(np.diff(np.concatenate(([-1], bucket))))
    low = np.minimum.reduceat(values, starts)
    high = np.maximum.reduceat(values, starts)
    return times[starts], low, high
