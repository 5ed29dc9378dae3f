"""The metrics chart is a small PNG of fixed size; missing data is a gap, not zero."""

from __future__ import annotations

import asyncio
import struct
from datetime import timedelta

from bot.reports.charts import HEIGHT_PX, WIDTH_PX, ChartSeries, metrics_chart_png
from tests.reports.fixtures import utc


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _hourly(values: list[float | None]) -> list[tuple[object, float | None]]:
    start = utc(2026, 10, 23, 14)
    return [(start + timedelta(hours=i), v) for i, v in enumerate(values)]


def test_chart_of_four_metrics_is_a_small_png_of_fixed_size() -> None:
    series = [
        ChartSeries("Response time P95", "ms", _hourly([36.0, 35.5, None, 35.1]), 36.4, 35),  # type: ignore[arg-type]
        ChartSeries("Cache hit rate", "%", _hourly([82.0, 83.1, 84.0, 84.2]), 82.3, 85),  # type: ignore[arg-type]
        ChartSeries("Error rate", "%", _hourly([0.2, 0.3, 0.2, 0.4]), None, 0.5),  # type: ignore[arg-type]
        ChartSeries("DB query", "ms", _hourly([None, None, None, None]), 18.3, 15),  # type: ignore[arg-type]
    ]
    png = metrics_chart_png("Week 17 Day 2", series)
    assert _png_size(png) == (WIDTH_PX, HEIGHT_PX)
    assert len(png) < 200_000


def test_the_same_input_gives_the_same_image_size_even_with_one_or_no_series() -> None:
    one = metrics_chart_png("Day 1", [ChartSeries("P95", "ms", _hourly([30.0, 31.0]), 36.4, 35)])  # type: ignore[arg-type]
    none = metrics_chart_png("Day 1", [])
    assert _png_size(one) == _png_size(none) == (WIDTH_PX, HEIGHT_PX)


async def test_charts_drawn_at_once_in_worker_threads_are_each_whole() -> None:
    """The report service draws off the event loop; several reports at once must not mix figures."""

    def one(n: int) -> bytes:
        return metrics_chart_png(f"Day {n}", [ChartSeries("P95", "ms", _hourly([30.0 + n, 31.0]), 36.4, 35)])  # type: ignore[arg-type]

    pngs = await asyncio.gather(*(asyncio.to_thread(one, n) for n in range(4)))
    assert all(_png_size(png) == (WIDTH_PX, HEIGHT_PX) for png in pngs)
    assert pngs == [one(n) for n in range(4)]  # each is exactly what drawing it alone gives
