"""The Agg canvas the charts draw on, with its text drawn from caches: the same PNG, byte for byte.

A chart's text (tick labels, titles, legends) was a third of its drawing time: matplotlib lays out
each string again (``FT2Font._layout``, ~0.3 ms) and rasterises each glyph again (``_render_glyph``)
every time it is drawn, though the charts of a week draw the same labels ("00:00", "Mon 02 Nov",
"baseline") in the same places day after day. Both are pure functions of what the caches key on:

- a layout, of (font object, size, dpi, text, hinting flags, font features, language): the font's
  own state is set from these (``_prepare_font``) before matplotlib lays the text out;
- a glyph's bitmap and offsets, of (font object, size, dpi, glyph, angle, position in 1/64 pixels,
  hinting flags, antialiasing): exactly the arguments FreeType renders it from.

A third cache answers ``Text._get_layout``'s question of a font's ascent, descent and line gap
(matplotlib asks a renderer that has ``_get_font_height_metrics`` before it finds the font and reads
its tables itself, for each text each time it is measured): keyed by the font properties, the
figure's dpi and the font settings ``findfont`` itself keys its cache by (the ``font.*`` rcParams,
``MPL_IGNORE_SYSTEM_FONTS``), read when a draw begins; the numbers are worked out as matplotlib
does.

Nothing invalidates them: fonts are never changed in place, and a different font, size or place is
a different key. Each is bounded (a full cache starts again), so a long-lived chart process stays
small. On a matplotlib release other than the one it was checked against (3.11, the pinned one),
or for mathtext, the text is drawn by matplotlib itself.
"""

from __future__ import annotations

import math
import os
import struct
import threading
from array import array
from collections.abc import Hashable
from typing import Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.ft2font import FT2Font

LAYOUTS_KEPT = 1024  # strings (a week's charts draw ~870, under 200 of them distinct)
GLYPHS_KEPT = 8192  # placed glyphs (a week's charts draw ~7,700, ~3,200 of them distinct): ~1 MB
# Only on the matplotlib releases whose private text calls this follows (tests/reports/test_chart_text.py
# holds it to their drawing byte for byte); any other draws its text itself, slower and the same.
TESTED_RELEASES = ((3, 11),)  # the pinned release (constraints.txt)
CACHING = (
    tuple(int(part) for part in matplotlib.__version__.split(".")[:2]) in TESTED_RELEASES
    and all(hasattr(FT2Font, name) for name in ("_layout", "_render_glyph", "_set_transform"))
    and all(hasattr(RendererAgg, name) for name in ("_draw_text_glyphs_and_boxes", "_prepare_font"))
)
_HEADER = struct.Struct("<iiii")  # a kept glyph: rows, columns, left, top, then its bitmap's bytes
_SPAN = 1 << 21  # positions (1/64 px) packed into a glyph's key: a canvas up to 16,384 px

_lock = threading.Lock()  # the charts may be drawn on more than one thread
Layout = tuple[tuple[Any, ...], "array[int]", "array[float]", "array[float]"]  # fonts, glyphs, x and y offsets
_layouts: dict[Hashable, Layout] = {}
# (font, size, dpi, angle, flags, antialiased) -> (glyph, position) packed in one int -> the glyph's rows,
# columns, left and top, then its bitmap; one int and one bytearray a glyph (tuples held twice the memory)
_glyphs: dict[Hashable, dict[int, bytearray]] = {}  # writable: Agg takes no read-only bitmap
_glyph_count = [0]
_heights: dict[Hashable, tuple[float, float, float] | tuple[None, None, None]] = {}
HEIGHTS_KEPT = 256  # font properties x dpi (a week's charts have a handful)
_FONT_SETTINGS: tuple[str, ...] = ("family", "style", "variant", "weight", "stretch", "size")
_FONT_SETTINGS += ("serif", "sans-serif", "cursive", "fantasy", "monospace")


def _keep_layout(key: Hashable, layout: Layout) -> None:
    """Bounded the simplest way: a full cache starts again (the week's charts never fill one)."""
    with _lock:
        if len(_layouts) >= LAYOUTS_KEPT:
            _layouts.clear()
        _layouts[key] = layout


def _placed(*face: Any) -> tuple[Hashable, dict[int, bytearray]]:
    """The face (font, size, dpi, angle, flags, antialiased) and the glyphs kept for it."""
    with _lock:
        return face, _glyphs.setdefault(face, {})


def _keep_glyph(face: Hashable, key: int, kept: bytearray) -> None:
    with _lock:
        if _glyph_count[0] >= GLYPHS_KEPT:
            _glyphs.clear()
            _glyph_count[0] = 0
        _glyphs.setdefault(face, {})[key] = kept
        _glyph_count[0] += 1


def _glyph_key(glyph_index: int, at: tuple[int, int]) -> int | None:
    """(glyph, position) as one int; None off any chart's canvas (drawn, not kept)."""
    x, y = at
    if not (-_SPAN < x < _SPAN and -_SPAN < y < _SPAN):
        return None
    return (glyph_index * 2 * _SPAN + x + _SPAN) * 2 * _SPAN + y + _SPAN


def font_settings() -> Hashable:
    """What ``findfont`` keys its own cache by besides the font properties (the rcParams it reads)."""
    import matplotlib as mpl

    rc: Any = mpl.rcParams  # typed for literal keys only
    settings = (rc[f"font.{key}"] for key in _FONT_SETTINGS)
    return (*(tuple(e) if isinstance(e, list) else e for e in settings), os.getenv("MPL_IGNORE_SYSTEM_FONTS"))


class TextCachingRenderer(RendererAgg):  # type: ignore[misc]
    """RendererAgg whose ``draw_text`` takes layouts and glyph bitmaps from the caches when it can."""

    _figure: Any = None  # the figure it draws, and the font settings, as of the draw's start
    _fonts: Hashable = None

    def measuring(self, figure: Any) -> None:
        """A draw of ``figure`` begins (``TextCachingCanvas.get_renderer``)."""
        self._figure, self._fonts = figure, font_settings()

    def _get_font_height_metrics(self, prop: Any) -> tuple[float, float, float] | tuple[None, None, None]:
        """(ascent, descent, line gap) of ``prop``'s font at its size, as ``Text._get_layout`` works them
        out itself at the figure's dpi; (None, None, None) lets it do so."""
        if not CACHING or self._figure is None:
            return None, None, None
        dpi = self._figure.dpi
        key = (tuple(prop.__dict__.values()), dpi, self._fonts)
        found = _heights.get(key)
        if found is None:
            found = _font_heights(prop, dpi)
            with _lock:
                if len(_heights) >= HEIGHTS_KEPT:
                    _heights.clear()
                _heights[key] = found
        return found

    def draw_text(
        self, gc: Any, x: float, y: float, s: str, prop: Any, angle: float, ismath: Any = False, mtext: Any = None
    ) -> None:
        if ismath or not CACHING:
            super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)  # type: ignore[no-untyped-call]
            return
        font = self._prepare_font(prop)  # type: ignore[no-untyped-call]
        flags = get_hinting_flag()  # type: ignore[no-untyped-call]
        features = mtext.get_fontfeatures() if mtext is not None else None
        language = mtext.get_language() if mtext is not None else None
        size = prop.get_size_in_points()
        key = (font, size, self.dpi, s, flags, features, language)
        items = _layouts.get(key)
        if items is None:
            laid = font._layout(s, flags=flags, features=features, language=language)
            items = (
                tuple(item.ft_object for item in laid),
                array("L", [item.glyph_index for item in laid]),
                array("d", [item.x for item in laid]),
                array("d", [item.y for item in laid]),
            )
            _keep_layout(key, items)
        self._draw_glyphs(gc, x, y, angle, size, flags, items)

    def _draw_glyphs(self, gc: Any, x: float, y: float, angle: float, size: float, flags: Any, items: Layout) -> None:
        """``RendererAgg._draw_text_glyphs_and_boxes`` for plain text (no slant, no boxes), each
        glyph's bitmap rendered once per place."""
        import numpy as np
        from matplotlib.ft2font import RenderMode

        cos = math.cos(math.radians(angle))
        sin = math.sin(math.radians(angle))
        antialiased = gc.get_antialiased()
        matrix = (0x10000 * np.array([[cos, -sin], [sin, cos]]) @ [[1, 0], [0, 1]]).round().astype(int)
        height = self.height
        faces: dict[Any, tuple[Hashable, dict[int, bytearray]]] = {}  # a font (or its fallback) -> its glyphs
        for font, glyph_index, dx, dy in zip(*items, strict=True):
            face, placed = faces.get(font) or faces.setdefault(
                font, _placed(font, size, self.dpi, angle, flags, antialiased)
            )
            at = (round(0x40 * (x + dx * cos - dy * sin)), round(0x40 * (height - y + dx * sin + dy * cos)))
            key = _glyph_key(glyph_index, at)
            kept = placed.get(key) if key is not None else None
            if kept is None:
                font.set_size(size, self.dpi)
                font._set_transform(matrix, list(at))
                bitmap = font._render_glyph(glyph_index, flags, RenderMode.NORMAL if antialiased else RenderMode.MONO)
                buffer = bitmap.buffer
                if not antialiased:
                    buffer *= 0xFF
                left, top = bitmap.left, bitmap.top
                if key is not None:
                    rows, columns = buffer.shape
                    header = _HEADER.pack(rows, columns, left, top)
                    _keep_glyph(face, key, bytearray(header + buffer.tobytes()))
            else:
                rows, columns, left, top = _HEADER.unpack_from(kept)
                buffer = np.frombuffer(kept, np.uint8, offset=_HEADER.size).reshape(rows, columns)
            self._renderer.draw_text_image(buffer, left, int(height) - top + buffer.shape[0], 0, gc)


def _font_heights(prop: Any, dpi: float) -> tuple[float, float, float] | tuple[None, None, None]:
    """matplotlib's own reading (``Text._get_layout``, 3.10-3.11): the OS/2 table's typographic metrics,
    else the hhea table's, scaled from font units to pixels."""
    from matplotlib.font_manager import fontManager, get_font

    font: Any = get_font(
        fontManager._find_fonts_by_props(prop)
    )  # the tables typed as maybe-missing: read as matplotlib does
    possible = [("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"), ("hhea", "lineGap", "ascent", "descent")]
    for table_name, linegap_key, ascent_key, descent_key in possible:
        table = font.get_sfnt_table(table_name)
        if table is None:
            continue
        fontsize = prop.get_size_in_points()
        units_per_em = font.get_sfnt_table("head")["unitsPerEm"]
        scale = 1 / units_per_em * fontsize * dpi / 72
        return table[ascent_key] * scale, -table[descent_key] * scale, table[linegap_key] * scale
    return None, None, None


class TextCachingCanvas(FigureCanvasAgg):  # type: ignore[misc]
    """FigureCanvasAgg drawing with ``TextCachingRenderer`` (``get_renderer`` as matplotlib's, but
    for the renderer's class)."""

    def get_renderer(self) -> Any:
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key:
            self.renderer = TextCachingRenderer(w, h, self.figure.dpi)  # type: ignore[no-untyped-call]
            self._lastKey = key
        self.renderer.measuring(self.figure)
        return self.renderer
