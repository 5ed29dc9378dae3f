"""The chart process draws the charts the bot asks for, survives its own death, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.reports.chart_worker import ChartWorker, ChartWorkerDied
from bot.reports.charts import ChartSeries, metrics_chart_png
from tests.reports.chart_fakes import KilledWhileDrawing, broken_chart, own_pid


@pytest.fixture
def worker() -> Iterator[ChartWorker]:
    charts = ChartWorker()
    try:
        yield charts
    finally:
        charts.shutdown()


def _series() -> list[ChartSeries]:
    start = datetime(2026, 11, 2, 6, tzinfo=UTC)
    return [ChartSeries("P95", "ms", [(start + timedelta(hours=i), 30.0 + i) for i in range(6)], 36.4, 35)]


def _gone(pid: int) -> bool:
    """Reaped: no such process any more (a zombie would still answer signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_the_chart_process_answers_a_chart_with_the_png_drawing_it_here_gives(worker: ChartWorker) -> None:
    png = await worker.draw(metrics_chart_png, "Day 1", _series())
    assert png == metrics_chart_png("Day 1", _series())
    assert await worker.draw(own_pid) not in (None, os.getpid())


def test_a_chart_that_fails_raises_its_own_error_and_the_process_draws_on(worker: ChartWorker) -> None:
    with pytest.raises(ValueError, match="no such metric"):
        worker.submit(broken_chart).result()
    assert worker.submit(metrics_chart_png, "Day 1", _series()).result().startswith(b"\x89PNG")


def test_a_process_killed_while_drawing_fails_that_chart_and_the_next_starts_a_new_one() -> None:
    dying = KilledWhileDrawing()
    try:
        with pytest.raises(ChartWorkerDied, match="stopped"):
            dying.submit(own_pid).result()
    finally:
        dying.shutdown()
    healthy = ChartWorker()
    try:
        first = healthy.submit(own_pid).result()
        os.kill(first, 9)
        os.waitid(os.P_PID, first, os.WEXITED | os.WNOWAIT)  # dead, not yet reaped: between two charts
        second = healthy.submit(own_pid).result()
    finally:
        healthy.shutdown()
    assert second != first


def test_shutdown_stops_and_reaps_the_process_and_is_safe_to_repeat(worker: ChartWorker) -> None:
    worker.start()
    pid = worker.pid()
    assert pid is not None and not _gone(pid)
    worker.shutdown()
    worker.shutdown()
    assert worker.pid() is None and _gone(pid)


def test_a_worker_never_asked_for_a_chart_starts_no_process(worker: ChartWorker) -> None:
    assert worker.pid() is None
    worker.shutdown()
    assert worker.pid() is None


def test_ctrl_c_in_the_terminal_leaves_the_chart_process_to_the_bot(worker: ChartWorker) -> None:
    first = worker.submit(own_pid).result()
    os.kill(first, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole process group
    assert worker.submit(own_pid).result() == first


async def test_a_worker_told_to_draw_here_starts_no_process_and_answers_the_same_chart() -> None:
    here, there = ChartWorker(here=True), ChartWorker()
    try:
        drawn_here = await here.draw(metrics_chart_png, "Day 1", _series())
        assert here.pid() is None
        assert drawn_here == await there.draw(metrics_chart_png, "Day 1", _series())
    finally:
        here.shutdown()
        there.shutdown()
