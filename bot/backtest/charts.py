"""One PNG per metric: its history, every threshold the runbook sets on it, the would-be firings shaded.

Four weeks of minutes are drawn as a min/max envelope of about 1,500 buckets (a line through 40,000
points looks the same and takes seconds). Like bot/reports/charts.py it draws on its own Figure and
Agg canvas, never pyplot's global registry, so charts can be drawn from any thread, and keeps a
chart cheap the same ways: fixed margins (no tight layout, which draws the chart once more), ticks
placed by rule, times turned into plot numbers as one array, zlib level 1.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

import numpy as np

from bot.backtest.run import Line, Result
from bot.backtest.timeline import EPOCH, History, Ints, micros, moment

BUCKETS = 1500
US_PER_DAY = 86_400_000_000
COLOURS = {"red": "#d62728", "amber": "#ff7f0e", "green": "#2ca02c"}


def metric_charts(result: Result, histories: dict[str, History]) -> dict[str, bytes]:
    """metric id -> PNG bytes, for every metric a condition of the result reads."""
    by_metric: dict[str, list[Line]] = defaultdict(list)
    for line in result.lines:
        by_metric[line.subject.condition.metric].append(line)
    return {
        metric: chart_png(metric, histories[metric], lines, result.start, result.end)
        for metric, lines in by_metric.items()
        if metric in histories
    }


def chart_png(metric: str, history: History, lines: list[Line], start: datetime, end: datetime) -> bytes:
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    origin = float(mdates.date2num(EPOCH))  # type: ignore[no-untyped-call]

    def x(at: datetime) -> float:
        return origin + micros(at) / US_PER_DAY

    fig = Figure(figsize=(11, 3.6), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    times, low, high = _envelope(history, start, end)
    if len(times):
        xs = origin + times / US_PER_DAY
        ax.fill_between(xs, low, high, color="#1f77b4", alpha=0.5, linewidth=0, label=metric)
        ax.plot(xs, (low + high) / 2, color="#1f77b4", linewidth=0.6)
    _thresholds_and_spans(ax, lines, x, end)
    ax.set_xlim(x(start), x(end))
    days = max(1, (end - start).days)
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=-(-days // 14)))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b"))  # type: ignore[no-untyped-call]
    ax.tick_params(labelsize=7)
    # a fixed title height: matplotlib otherwise measures the tick labels to place it (a sixth of a chart)
    ax.set_title(f"{metric}: history, thresholds, would-be firings (shaded), no data (grey)", fontsize=10, y=1.0)
    ax.legend(loc="upper left", fontsize=7, ncols=2)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.9, bottom=0.12)
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    return out.getvalue()


def _thresholds_and_spans(ax: Any, lines: list[Line], x: Callable[[datetime], float], end: datetime) -> None:
    """Each threshold once (dashed, in its verdict's colour), would-be firings shaded, no data in grey."""
    seen: set[float] = set()
    for line in lines:
        colour = COLOURS[line.verdict.colour]
        if line.limit is not None and line.limit not in seen:
            seen.add(line.limit)
            ax.axhline(line.limit, color=colour, linestyle="--", linewidth=1, label=line.subject.text)
        if line.subject.alerting:
            for span in line.firings:
                ax.axvspan(x(span.opened_at), x(span.resolved_at or end), color=colour, alpha=0.25, linewidth=0)
        for span in line.no_data:
            ax.axvspan(x(span.opened_at), x(span.resolved_at or end), color="#7f7f7f", alpha=0.15, linewidth=0)


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
