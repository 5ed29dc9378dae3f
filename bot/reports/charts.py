"""A PNG of the day's key metrics against their baseline and target, attached to the daily report.

matplotlib is imported inside the function so importing the reports package stays cheap. It
draws on its own Figure and Agg canvas, never through pyplot's global figure registry, so it
may run in a worker thread (the report service renders there, off the event loop). The size
is fixed (no tight bounding box) so every chart has the same pixel dimensions; missing points
are drawn as gaps, never as zero.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

WIDTH_PX = 1000
HEIGHT_PX = 600
DPI = 100
TITLE_PAD = 6.0  # points between a panel and its title (matplotlib's default)


@dataclass(frozen=True)
class ChartSeries:
    """One metric's points over the day (None = no data at that time) with its reference lines."""

    label: str
    unit: str
    points: Sequence[tuple[datetime, float | None]]
    baseline: float | None = None
    target: float | None = None


@dataclass
class Panel:
    """The artists of one metric's panel that a later chart of the same shape redraws with new data."""

    axes: Any
    line: Any
    references: list[tuple[Any, float]]  # (axhline, its y): baseline, then target, in the order drawn
    title: Any


@dataclass
class DrawnChart:
    """A drawn figure and the artists a chart of the same shape changes (bot/reports/chart_reuse.py)."""

    figure: Any
    suptitle: Any
    panels: list[Panel]


def metrics_chart_png(title: str, series: Sequence[ChartSeries]) -> bytes:
    """One small panel per metric (units differ), in a 2-column grid; returns PNG bytes."""
    return png_of(draw_chart(title, series).figure)


def draw_chart(title: str, series: Sequence[ChartSeries]) -> DrawnChart:
    """A new figure with every panel drawn; the artists are kept so the figure can be drawn again."""
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from bot.reports.chart_text import TextCachingCanvas

    panels = max(1, len(series))
    columns = 1 if panels == 1 else 2
    rows = math.ceil(panels / columns)
    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    TextCachingCanvas(fig)
    axes_grid = fig.subplots(rows, columns, squeeze=False)
    suptitle = fig.suptitle(title, fontsize=12)
    axes = [ax for row in axes_grid for ax in row]
    drawn: list[Panel] = []
    for ax, one in zip(axes, series, strict=False):
        times, values = plotted(one)
        (line,) = ax.plot(times, values, color="#1f77b4", linewidth=1.5, label="now")
        references: list[tuple[Any, float]] = []
        if one.baseline is not None:
            baseline = ax.axhline(one.baseline, color="#7f7f7f", linestyle="--", linewidth=1, label="baseline")
            references.append((baseline, one.baseline))
        if one.target is not None:
            target = ax.axhline(one.target, color="#2ca02c", linestyle=":", linewidth=1.5, label="target")
            references.append((target, one.target))
        if all(math.isnan(v) for v in values):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#d62728")
        # Placed, not measured: an automatic title position asks every tick label for its extent.
        panel_title = ax.set_title(panel_title_of(one), fontsize=9, y=1.0, pad=TITLE_PAD)
        ax.tick_params(labelsize=7)
        zone = times[0].tzinfo if times else None
        # Few ticks, placed by rule: every tick is an artist to lay out and draw (most of a chart's time).
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=zone, minticks=3, maxticks=7))  # type: ignore[no-untyped-call]
        ax.yaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))  # round numbers, as by default
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=zone))  # type: ignore[no-untyped-call]
        ax.legend(fontsize=6, loc="best")
        ax.grid(alpha=0.3)
        _unlabelled(ax)
        drawn.append(Panel(ax, line, references, panel_title))
    for ax in axes[len(series) :]:
        ax.axis("off")
    if not series:
        axes[0].text(0.5, 0.5, "no metrics", ha="center", va="center")
    fig.subplots_adjust(left=0.06, right=0.98, top=0.9, bottom=0.07, hspace=0.45, wspace=0.15)
    return DrawnChart(fig, suptitle, drawn)


def _unlabelled(ax: Any) -> None:
    """The axes have no axis labels: placed by hand, matplotlib does not measure every tick label again
    (and the spines) to move an empty label clear of them at each draw (a tenth of a chart); an
    empty label draws nothing wherever it is, so the PNG is the same."""
    ax.xaxis.set_label_coords(0.5, 0.0)
    ax.yaxis.set_label_coords(0.0, 0.5)


def plotted(one: ChartSeries) -> tuple[list[datetime], list[float]]:
    """The series as the plot takes it: times, and values with NaN for a missing point (a gap)."""
    return [t for t, _ in one.points], [math.nan if v is None else v for _, v in one.points]


def panel_title_of(one: ChartSeries) -> str:
    return f"{one.label} ({one.unit})" if one.unit else one.label


def png_of(figure: Any) -> bytes:
    buffer = io.BytesIO()
    # zlib level 1: a tenth of the drawing time saved; with fewer ticks the file stays ~85 KB
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()
