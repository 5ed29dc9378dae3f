"""The garbage collector and a long-lived process: keep full collections short.

A process that imports this bot holds ~190k objects (modules, the runbook, the seeded state) until
it exits. Left in the collector's oldest generation, every full collection walks them all (60-110
ms on a 2-core machine): it stalls every ack in flight, and it runs so rarely that a chart's
3 MiB of cyclic garbage piles up ten times over a simulated week. Frozen, a full collection walks
only what was made since, so it is short and comes often.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import importlib
from collections.abc import Iterable

# What `ionbot serve` needs later but not to answer: the reports' templates and charts.
SERVE_PRELOAD = ("jinja2", "matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.dates")
SETTLE_SECONDS = 1.0


def freeze_startup_heap(preload: Iterable[str] = ()) -> None:
    """Import ``preload`` (modules certain to be needed later), collect once, then freeze what is left."""
    _import_all(preload)
    gc.collect()
    gc.freeze()


async def freeze_once_settled(preload: Iterable[str] = SERVE_PRELOAD, *, after: float = SETTLE_SECONDS) -> None:
    """``freeze_startup_heap`` for a bot that has just opened: the requests that waited for it are
    answered first (the collection stalls the loop ~0.1 s), and ``preload`` is imported in a worker
    thread, so a report's first use of Jinja or matplotlib never stalls an answer either."""
    await asyncio.sleep(after)
    await asyncio.to_thread(_import_all, tuple(preload))
    freeze_startup_heap()


def _import_all(names: Iterable[str]) -> None:
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
