"""One PNG per metric: its history, every threshold the runbook sets on it, the would-be firings shaded.

Four weeks of minutes are drawn as a min/max envelope of about 1,500 buckets (a line through 40,000
points looks the same and takes seconds). Like bot/reports/charts.py it draws on its own Figure and
Agg canvas, never pyplot's global registry, so charts can be drawn from any thread.
"""

from __future__ import annotations

import io
from collections import defaultdict
from datetime import datetime

import numpy as np

from bot.backtest.run import Line, Result
from bot.backtest.timeline import History, moment

BUCKETS = 1500
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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import date2num
    from matplotlib.figure import Figure

    def x(at: datetime) -> float:
        return float(date2num(at))  # type: ignore[no-untyped-call]

    fig = Figure(figsize=(11, 3.6), dpi=90)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    times, low, high = _envelope(history, start, end)
    if len(times):
        xs = np.array([x(t) for t in times])
        ax.fill_between(xs, low, high, color="#1f77b4", alpha=0.5, linewidth=0, label=metric)
        ax.plot(xs, (low + high) / 2, color="#1f77b4", linewidth=0.6)
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
    ax.set_xlim(x(start), x(end))
    ax.xaxis_date()
    ax.set_title(f"{metric}: history, thresholds, would-be firings (shaded), no data (grey)", fontsize=10)
    ax.legend(loc="upper left", fontsize=7, ncols=2)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _envelope(history: History, start: datetime, end: datetime) -> tuple[list[datetime], np.ndarray, np.ndarray]:
    """Bucketed minimum and maximum over [start, end], so the chart keeps every spike."""
    lo_us = int((start - moment(0)).total_seconds() * 1e6)
    hi_us = int((end - moment(0)).total_seconds() * 1e6)
    keep = (history.times >= lo_us) & (history.times <= hi_us)
    times, values = history.times[keep], history.values[keep]
    if not len(times):
        return [], np.zeros(0), np.zeros(0)
    edges = np.linspace(lo_us, hi_us, BUCKETS + 1)
    bucket = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, BUCKETS - 1)
    starts = np.flatnonzero(np.diff(np.concatenate(([-1], bucket))))
    low = np.minimum.reduceat(values, starts)
    high = np.maximum.reduceat(values, starts)
    return [moment(int(t)) for t in times[starts]], low, high
