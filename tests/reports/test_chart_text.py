"""Charts drawn with the text caches (bot/reports/chart_text.py) are byte for byte matplotlib's own drawing,
however warm the caches are and whatever they were filled with."""

from __future__ import annotations

import functools
import io
import random
from collections.abc import Callable, Iterator
from typing import Any

import matplotlib as mpl
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.backtest.chart_draw import _new_figure, _plot, _png
from bot.reports import chart_text
from bot.reports.chart_text import TextCachingCanvas
from bot.reports.charts import draw_chart, png_of
from tests.backtest.test_chart_reuse import _chart
from tests.reports.test_chart_reuse import _day

pytestmark = pytest.mark.skipif(not chart_text.CACHING, reason="the text caches are off on this matplotlib release")


@pytest.fixture(autouse=True)
def cold_caches() -> Iterator[None]:
    """Each test starts, and leaves, the caches empty."""
    _forget()
    yield
    _forget()


def _forget() -> None:
    chart_text._layouts.clear()
    chart_text._glyphs.clear()
    chart_text._glyph_count[0] = 0
    chart_text._heights.clear()


def _both(figure: Any, encode: Callable[[Any], bytes] = png_of) -> tuple[bytes, bytes]:
    """The figure's PNG drawn with the caches, then by matplotlib's own canvas."""
    TextCachingCanvas(figure)
    cached = encode(figure)
    FigureCanvasAgg(figure)
    return cached, encode(figure)


def _texts(rng: random.Random) -> Figure:
    """The same few strings at other sizes, places, angles, weights, fonts and antialiasing."""
    figure = Figure(figsize=(4, 3), dpi=rng.choice((72, 100)))
    for _ in range(12):
        figure.text(
            rng.uniform(0.0, 0.9),
            rng.uniform(0.0, 0.9),
            rng.choice(("00:00", "Mon 02 Nov", "baseline", "p95 > 100", "0.25")),
            fontsize=rng.choice((6, 7, 9)),
            rotation=rng.choice((0, 0, 30, 90)),
            fontweight=rng.choice(("normal", "bold")),
            family=rng.choice(("DejaVu Sans", "DejaVu Serif")),
            antialiased=rng.random() < 0.8,
        )
    return figure


def test_a_weeks_daily_charts_match_matplotlibs_own_drawing_as_the_caches_fill() -> None:
    rng = random.Random(17)
    for day in range(10):
        drawn = draw_chart(f"Week 17 Day {day + 1} Report: key metrics", _day(rng, day))
        cached, plain = _both(drawn.figure)
        assert cached == plain, f"day {day + 1} differs"
    assert chart_text._layouts and chart_text._glyphs  # the caches were used, not bypassed


@pytest.mark.filterwarnings("ignore:No artists with labels")  # a chart without data or thresholds
def test_a_backtests_charts_match_matplotlibs_own_drawing_after_the_daily_charts() -> None:
    rng = random.Random(4)
    draw_chart("Day 1", _day(rng, 0))  # warm: other sizes and places of the same digits
    png_of(draw_chart("Day 1", _day(rng, 0)).figure)
    for n in range(8):
        figure, axes = _new_figure()
        _plot(axes, _chart(rng, f"metric_{n}"))
        cached, plain = _both(figure, _png)
        assert cached == plain, f"chart {n} differs"


def test_the_same_strings_at_other_sizes_places_angles_and_fonts_are_not_taken_from_the_cache() -> None:
    rng = random.Random(9)
    for n in range(12):
        cached, plain = _both(_texts(rng))
        assert cached == plain, f"figure {n} differs"


def test_mathtext_is_drawn_by_matplotlib_itself() -> None:
    figure = Figure(figsize=(2, 1), dpi=100)
    figure.text(0.1, 0.5, r"$\sigma^2 > 0.5$ and 00:00")
    cached, plain = _both(figure)
    assert cached == plain
    assert not any("sigma" in str(key) for key in chart_text._layouts)


def test_full_caches_start_again_and_the_charts_stay_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chart_text, "GLYPHS_KEPT", 50)
    monkeypatch.setattr(chart_text, "LAYOUTS_KEPT", 5)
    rng = random.Random(23)
    for n in range(6):
        cached, plain = _both(_texts(rng))
        assert cached == plain, f"figure {n} differs"
        assert chart_text._glyph_count[0] <= 50 and len(chart_text._layouts) <= 5
        assert sum(len(placed) for placed in chart_text._glyphs.values()) == chart_text._glyph_count[0]


def test_drawing_a_chart_again_lays_out_and_renders_nothing_new() -> None:
    """What the caches save: the same chart again finds every layout and glyph it needs."""
    drawn = draw_chart("Day 3", _day(random.Random(31), 2))
    first = png_of(drawn.figure)
    layouts, glyphs = dict(chart_text._layouts), chart_text._glyph_count[0]
    assert png_of(drawn.figure) == first
    assert chart_text._layouts == layouts and chart_text._glyph_count[0] == glyphs


def test_a_weeks_daily_charts_keep_well_under_a_megabyte_of_glyphs() -> None:
    rng = random.Random(5)
    for day in range(10):
        png_of(draw_chart("Day", _day(rng, day)).figure)
    assert sum(len(kept) for placed in chart_text._glyphs.values() for kept in placed.values()) < 1_000_000


def _as_matplotlib_draws(figure: Any, encode: Callable[[Any], bytes] = png_of) -> bytes:
    """The figure as matplotlib draws it unaided: its own canvas, axis labels placed by measuring."""
    for axes in figure.axes:
        axes.xaxis._autolabelpos = axes.yaxis._autolabelpos = True
    FigureCanvasAgg(figure)
    return encode(figure)


@pytest.mark.filterwarnings("ignore:No artists with labels")  # a chart without data or thresholds
def test_the_charts_with_their_text_cached_and_labels_placed_by_hand_are_matplotlibs_own() -> None:
    rng = random.Random(41)
    for day in range(4):
        drawn = draw_chart("Day", _day(rng, day))
        assert png_of(drawn.figure) == _as_matplotlib_draws(drawn.figure), f"day {day + 1} differs"
    for n in range(4):
        figure, axes = _new_figure()
        _plot(axes, _chart(rng, f"metric_{n}"))
        assert _png(figure) == _as_matplotlib_draws(figure, _png), f"backtest chart {n} differs"


def test_font_heights_follow_the_dpi_and_the_font_settings_a_draw_begins_with(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ascent/descent cache is keyed by what matplotlib's own font lookup reads: other dpis and other
    rcParams for the same text give matplotlib's own drawing, not the cached numbers."""
    rng = random.Random(13)
    figure = _texts(rng)
    for dpi in (72, 100, 150, 72):
        cached, plain = _both(figure, functools.partial(_png_at, dpi=dpi))
        assert cached == plain, f"dpi {dpi} differs"
    assert chart_text._heights
    plain_font = Figure(figsize=(3, 1), dpi=100)
    plain_font.text(0.05, 0.4, "Mon 02 Nov 00:00 baseline", fontsize=9, va="top")  # default family: sans-serif
    assert _both(plain_font)[0] == _both(plain_font)[1]
    monkeypatch.setitem(mpl.rcParams, "font.sans-serif", ["STIXGeneral", *mpl.rcParams["font.sans-serif"]])
    for _ in range(2):
        cached, plain = _both(plain_font)
        assert cached == plain


def _png_at(figure: Any, dpi: int) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi, metadata={"Software": None})
    return out.getvalue()
