"""Draws one backtest chart from plain data (``MetricChart``), in the chart process.

It imports only numpy and matplotlib, so the chart process loads nothing else of the bot to draw
it. Like bot/reports/charts.py it draws on its own Figure and Agg canvas, never pyplot's global
registry, and keeps a chart cheap the same ways: fixed margins (no tight layout, which draws the
chart once more), ticks placed by rule, times turned into plot numbers as one array, zlib level 1.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MetricChart:
    """What one metric's chart shows, as plain data (times in days since the epoch, as the plot's x)."""

    metric: str
    days: np.ndarray  # bucket start times
    low: np.ndarray
    high: np.ndarray
    thresholds: tuple[tuple[float, str, str], ...]  # (limit, colour, label), each limit once
    spans: tuple[tuple[float, float, str, float], ...]  # (from, to, colour, alpha): firings, then no data
    start: float
    end: float
    tick_every: int  # days between date ticks


def draw(chart: MetricChart) -> bytes:
    """The PNG of ``chart`` on a new figure."""
    figure, axes = _new_figure()
    _plot(axes, chart)
    return _png(figure)


def draw_on_kept_figure(chart: MetricChart) -> bytes:
    """``draw(chart)``'s PNG, byte for byte, drawn on the figure of the chart before it.

    A backtest draws a dozen charts in a row, each one axes of the same size: emptied of the last
    chart's lines, shades and limits, the axes keeps its ticks and spines, about a third of a chart.
    """
    global _kept
    with _lock:
        if _kept is None:
            _kept = _new_figure()
        else:
            _empty(_kept[1])
        _plot(_kept[1], chart)
        return _png(_kept[0])


_kept: tuple[Any, Any] | None = None
_lock = threading.Lock()  # one chart at a time on the kept figure, whichever thread asks


def _new_figure() -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    from bot.reports.chart_text import TextCachingCanvas

    figure = Figure(figsize=(11, 3.6), dpi=90)
    TextCachingCanvas(figure)
    axes = figure.add_subplot(1, 1, 1)
    # No axis labels: placed by hand, an empty label is not moved clear of the tick labels at each
    # draw (matplotlib measures them all again for it); it draws nothing wherever it is.
    axes.xaxis.set_label_coords(0.5, 0.0)
    axes.yaxis.set_label_coords(0.0, 0.5)
    return figure, axes


def _empty(axes: Any) -> None:
    """The axes as a new one starts: no artists, no data limits, autoscaling on, the unit view."""
    from matplotlib.transforms import Bbox

    for artist in [*axes.lines, *axes.collections, *axes.patches]:
        artist.remove()
    axes.dataLim.set_points(Bbox.null().get_points())
    axes.ignore_existing_data_limits = True
    axes.viewLim.set_points(Bbox.unit().get_points())
    axes.set_autoscale_on(True)


def _plot(ax: Any, chart: MetricChart) -> None:
    """Everything of the chart on ``ax``, in the order that fixes its limits (see ``_empty``)."""
    import matplotlib.dates as mdates

    origin = float(mdates.date2num(EPOCH))  # type: ignore[no-untyped-call]
    if len(chart.days):
        xs = origin + chart.days
        ax.fill_between(xs, chart.low, chart.high, color="#1f77b4", alpha=0.5, linewidth=0, label=chart.metric)
        ax.plot(xs, (chart.low + chart.high) / 2, color="#1f77b4", linewidth=0.6)
    for limit, colour, label in chart.thresholds:
        ax.axhline(limit, color=colour, linestyle="--", linewidth=1, label=label)
    for first, last, colour, alpha in chart.spans:
        ax.axvspan(origin + first, origin + last, color=colour, alpha=alpha, linewidth=0)
    ax.set_xlim(origin + chart.start, origin + chart.end)
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=chart.tick_every))  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b"))  # type: ignore[no-untyped-call]
    ax.tick_params(labelsize=7)
    # a fixed title height: matplotlib otherwise measures the tick labels to place it (a sixth of a chart)
    title = f"{chart.metric}: history, thresholds, would-be firings (shaded), no data (grey)"
    ax.set_title(title, fontsize=10, y=1.0)
    ax.legend(loc="upper left", fontsize=7, ncols=2)
    ax.grid(alpha=0.3)
    ax.figure.subplots_adjust(left=0.06, right=0.99, top=0.9, bottom=0.12)


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    return out.getvalue()
