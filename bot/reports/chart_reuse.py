"""The daily chart drawn again on the figure of an earlier chart of the same shape, in the chart process.

Building a figure (axes, legends, ticks: hundreds of artists) is about 40 % of a chart. The charts
of a run have the same shape every day (the same metrics, each with or without a baseline and a
target), so the chart process keeps the last few figures by shape and redraws one with the new
points, limits and titles: the PNG is byte for byte the one a new figure gives (tests hold it to
that). The limits are set in the order a new figure sets them: the data alone first, then a
reference line widens them only when it lies outside (matplotlib's ``axhline`` rule).

A panel with no data at all, or a chart with no metrics, is drawn on a new figure every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

from bot.reports.charts import ChartSeries, DrawnChart, Panel, draw_chart, panel_title_of, plotted, png_of

KEPT = 4  # figures kept, by shape (each ~1-2 MB)
_figures: OrderedDict[Hashable, DrawnChart] = OrderedDict()
_lock = threading.Lock()  # one chart at a time on a kept figure, whichever thread asks


def daily_chart_png(title: str, series: Sequence[ChartSeries]) -> bytes:
    """``metrics_chart_png(title, series)``'s PNG, drawn on a kept figure of the same shape when there is one."""
    shape = _shape(series)
    if shape is None:
        return png_of(draw_chart(title, series).figure)
    with _lock:
        kept = _figures.pop(shape, None)
        if kept is None:
            kept = draw_chart(title, series)
        else:
            _redraw(kept, title, series)
        _figures[shape] = kept
        while len(_figures) > KEPT:
            _figures.popitem(last=False)
        return png_of(kept.figure)


def _shape(series: Sequence[ChartSeries]) -> Hashable | None:
    """What fixes a figure's artists: per panel, which reference lines it has and the time zone."""
    if not series or any(all(v is None for _, v in one.points) for one in series):
        return None
    return tuple(
        (one.baseline is not None, one.target is not None, one.points[0][0].tzinfo, one.unit == "") for one in series
    )


def _redraw(kept: DrawnChart, title: str, series: Sequence[ChartSeries]) -> None:
    kept.suptitle.set_text(title)
    for panel, one in zip(kept.panels, series, strict=True):
        _refill(panel, one)


def _refill(panel: Panel, one: ChartSeries) -> None:
    ax = panel.axes
    times, values = plotted(one)
    panel.line.set_data(times, values)
    panel.title.set_text(panel_title_of(one))
    for line, _ in panel.references:
        line.set_visible(False)
    ax.relim(visible_only=True)
    ax.autoscale_view()
    for (line, _), y in zip(panel.references, _references(one), strict=True):
        line.set_ydata([y, y])
        line.set_visible(True)
        low, high = ax.get_ybound()
        if y < low or y > high:  # as axhline does: only a line outside the view rescales it
            ax.relim(visible_only=True)
            ax.autoscale_view(scalex=False)


def _references(one: ChartSeries) -> list[float]:
    return [y for y in (one.baseline, one.target) if y is not None]
