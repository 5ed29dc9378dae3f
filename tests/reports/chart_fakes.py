"""Drawing functions the chart process runs in tests: imported there by name, so they live at module level."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from bot.reports.chart_worker import ChartWorker

T = TypeVar("T")


def own_pid() -> int:
    """The process that drew: the chart process, not the test's."""
    return os.getpid()


def broken_chart() -> bytes:
    raise ValueError("no such metric")


def killed_while_drawing(draw: Callable[..., T], *args: Any) -> T:
    """The chart process is killed in the middle of a chart (out of memory, an operator's kill -9)."""
    os.kill(os.getpid(), signal.SIGKILL)
    return draw(*args)


class KilledWhileDrawing(ChartWorker):
    """A real chart process that is killed while it draws each chart it is given."""

    def submit(self, draw: Callable[..., T], *args: Any) -> Future[T]:
        return super().submit(killed_while_drawing, draw, *args)
