"""The garbage collector and a long-lived process: keep full collections short.

A process that imports this bot holds ~190k objects (modules, the runbook, the seeded state) until
it exits. Left in the collector's oldest generation, every full collection walks them all (60-110
ms on a 2-core machine): it stalls every ack in flight, and it runs so rarely that a chart's
3 MiB of cyclic garbage piles up ten times over a simulated week. Frozen, a full collection walks
only what was made since, so it is short and comes often.

While `ionbot serve` starts, the collector is off altogether (``collector_paused``): each
collection on the way walked the objects made so far again, about a sixth of the CPU time from
spawn to the first answer; the garbage of the start is collected once, when the heap is frozen.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import importlib
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager

# What `ionbot serve` needs later but not to answer: the reports' templates (not matplotlib: serve
# draws its charts in their own process, bot/reports/chart_worker.py).
SERVE_PRELOAD = ("jinja2",)
SETTLE_SECONDS = 1.0


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection until ``freeze_startup_heap`` turns it back on, or the block ends
    (a start that failed or stopped before it settled); a collector that was off stays off."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def freeze_startup_heap(preload: Iterable[str] = ()) -> None:
    """Import ``preload`` (modules certain to be needed later), collect once, then freeze what is
    left; the collector runs from here on (``collector_paused`` stopped it for the start)."""
    import_all(preload)
    gc.collect()
    gc.freeze()
    gc.enable()


async def freeze_once_settled(
    preload: Iterable[str] = SERVE_PRELOAD,
    *,
    after: float = SETTLE_SECONDS,
    first: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """``freeze_startup_heap`` for a bot that has just opened: the requests that waited for it are
    answered first (the collection stalls the loop ~0.1 s), and ``preload`` is imported in a worker
    thread, so a report's first use of Jinja never stalls an answer either. ``first``
    is what the bot opens only then (serve's web timeline), so it is frozen with the rest."""
    await asyncio.sleep(after)
    try:
        if first is not None:
            await first()
        await asyncio.to_thread(import_all, tuple(preload))
    except Exception:
        gc.enable()  # whatever failed here, the collector paused for the start must run again
        raise
    freeze_startup_heap()


def import_all(names: Iterable[str]) -> None:
    """Import each module named (run in a worker thread where the loop must not wait for it)."""
    for name in names:
        importlib.import_module(name)


def release_freed_memory() -> None:
    """After a burst (a backtest's weeks of points and its charts): collect, then hand the C heap's
    free pages back to the system (glibc's malloc_trim), so the burst does not stay in the
    process's memory for the rest of its life. Elsewhere only the collection is done."""
    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        libc = None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
