"""Charts are drawn in one long-lived child process (bot/reports/chart_process.py), never in the bot's own.

matplotlib holds the GIL while it lays out text and ticks (a daily chart is ~0.2 s of it): drawn in
a worker thread, every answer the bot owed in that time waited for it. In a child process the bot's
interpreter stays free to answer, the drawing runs on another core, and matplotlib (~0.4 s of
imports, ~30 MB) is loaded there, not in the bot.

The child is a plain ``python -m bot.reports.chart_process`` on two pipes (no multiprocessing: no
resource tracker or fork server left running, no copy of the bot's threads), started at the first
chart or early with ``start``. It exits when its stdin closes, so it never outlives the bot. A chart
whose child died raises ``ChartWorkerDied`` to its caller (the report says the chart could not be
attached); the next chart starts a new child. ``shutdown`` stops and reaps it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

from bot.reports.chart_process import ChartProcessGone, read_frame, write_frame

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]  # the folder holding the bot package, for the child's imports
STOP_GRACE = 10.0  # seconds a child that was asked to stop has to exit before it is killed


class ChartWorkerDied(RuntimeError):
    """The chart process stopped before it answered; this chart is lost, the next starts a new process."""


class ChartWorker:
    """One child process that draws charts, one at a time; safe to use from any thread or event loop.

    ``submit`` takes a module-level function and picklable arguments (plain data, never the bot's
    objects) and gives a ``concurrent.futures.Future`` of its (picklable) result. Requests queue on
    one sender thread, which waits on the pipe with the GIL released.
    """

    def __init__(self, *, here: bool = False) -> None:
        self.here = here  # draw on the sender thread in this process, with no child (``draw_charts_here``)
        self._child: subprocess.Popen[bytes] | None = None
        self._sender: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the child now if none runs: its imports overlap whatever the caller does next."""
        with self._lock:
            if not self.here:
                self._started()

    def submit(self, draw: Callable[..., T], *args: Any) -> Future[T]:
        """``draw(*args)`` in the child, after the charts asked for before it."""
        with self._lock:
            if self._sender is None:
                self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chart-sender")
            return self._sender.submit(self._call, draw, args)

    async def draw(self, draw: Callable[..., T], *args: Any) -> T:
        """``submit`` awaited from the event loop: the loop runs on while the child draws."""
        return await asyncio.wrap_future(self.submit(draw, *args))

    def pid(self) -> int | None:
        """The child's process id while one runs."""
        with self._lock:
            return self._child.pid if self._child is not None and self._child.poll() is None else None

    def shutdown(self) -> None:
        """Let the queued charts finish, then stop the child and reap it; idempotent."""
        with self._lock:
            sender, self._sender = self._sender, None
        if sender is not None:
            sender.shutdown(wait=True)
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            _stop(child)

    def _call(self, draw: Callable[..., T], args: tuple[Any, ...]) -> T:
        if self.here:
            return draw(*args)
        with self._lock:
            child = self._started()
        assert child.stdin is not None and child.stdout is not None
        try:
            write_frame(child.stdin, (draw, args))
            ok, value = read_frame(child.stdout)
        except (ChartProcessGone, OSError) as error:
            with self._lock:
                if self._child is child:
                    self._child = None
            _stop(child)
            raise ChartWorkerDied(f"the chart process stopped (exit code {child.returncode})") from error
        if not ok:
            raise cast(BaseException, value)
        return cast(T, value)

    def _started(self) -> subprocess.Popen[bytes]:
        if self._child is None or self._child.poll() is not None:
            env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
            self._child = subprocess.Popen(
                [sys.executable, "-P", "-m", "bot.reports.chart_process"],  # -P: this bot, not one in the cwd
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        return self._child


def _stop(child: subprocess.Popen[bytes]) -> None:
    """Close its stdin (it exits at the end of the chart it is drawing), then wait; kill if it lingers."""
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    try:
        child.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


_shared = ChartWorker()
atexit.register(_shared.shutdown)  # reaped before the interpreter goes, whoever forgot to stop it


def shared_worker() -> ChartWorker:
    """The process's chart worker: the daily reports and the backtest share its one child."""
    return _shared


def draw_charts_here() -> None:
    """From now on the shared worker draws in this process (on its sender thread), with no child.

    For ``ionbot simulate``, the demo held to 200 MB: a chart process is a second interpreter with
    matplotlib and numpy (about 77 MiB), and with it the week's two processes held 230 MB at once,
    against 192 MB for one. ``serve`` keeps the child, so its answers never wait on matplotlib."""
    _shared.shutdown()
    _shared.here = True
