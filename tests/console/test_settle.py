"""How the console lets the bot's tasks finish before time moves: loop turns for work that needs no
I/O, a real (short) wait only for what a socket or a worker thread must answer."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from bot.console.jobs import FREE_TURNS, settle_tasks


class RecordingPause:
    """Stands in for ``asyncio.sleep``: yields the same way and writes down every real wait asked for."""

    def __init__(self, on_real_wait: threading.Event | None = None) -> None:
        self.real_waits: list[float] = []
        self.on_real_wait = on_real_wait

    async def __call__(self, seconds: float) -> None:
        if seconds > 0:
            self.real_waits.append(seconds)
            if self.on_real_wait is not None:
                self.on_real_wait.set()
        await asyncio.sleep(seconds)


async def _shielded(depth: int) -> int:
    """Work that ends after many loop turns and no I/O, as the store's sessions close behind shields."""
    if depth == 0:
        return 0
    return await asyncio.shield(asyncio.create_task(_shielded(depth - 1))) + 1


async def test_work_that_needs_only_loop_turns_settles_without_a_real_wait() -> None:
    baseline = set(asyncio.all_tasks())
    pause = RecordingPause()
    work = asyncio.create_task(_shielded(3 * FREE_TURNS))

    await settle_tasks(baseline, None, pause=pause)

    assert work.done() and work.result() == 3 * FREE_TURNS
    assert pause.real_waits == []


async def test_a_task_waiting_on_a_worker_thread_is_waited_for_in_real_time() -> None:
    baseline = set(asyncio.all_tasks())
    released = threading.Event()  # the thread finishes only once settle has waited for real
    pause = RecordingPause(on_real_wait=released)
    work: asyncio.Task[Any] = asyncio.create_task(asyncio.to_thread(released.wait, 10.0))

    await settle_tasks(baseline, None, pause=pause)

    assert work.done() and work.result() is True
    assert pause.real_waits and set(pause.real_waits) == {0.001}
