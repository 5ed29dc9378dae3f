"""Issue 14: serve freezes its start-up heap once settled, after importing what it will need later
in a worker thread (bot/heap.py), instead of stalling the loop just before its first answers."""

from __future__ import annotations

import asyncio
import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from bot.heap import freeze_once_settled, release_freed_memory


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("unfrozen")
async def test_once_settled_the_later_modules_are_imported_and_the_heap_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "wave", raising=False)

    await freeze_once_settled(["wave"], after=0)

    assert "wave" in sys.modules
    assert gc.get_freeze_count() > 0


class Traffic:
    """A work queue's ``idle_for``: busy until the test says the last request is done."""

    def __init__(self) -> None:
        self.busy = True
        self.asked = 0
        self.asked_twice = asyncio.Event()

    def idle_for(self) -> float:
        self.asked += 1
        if self.asked >= 2:
            self.asked_twice.set()
        return 0.0 if self.busy else 1.0


@pytest.mark.usefixtures("unfrozen")
async def test_the_later_modules_wait_for_a_quiet_moment_so_answers_do_not_wait_behind_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "wave", raising=False)
    traffic = Traffic()

    settling = asyncio.create_task(freeze_once_settled(["wave"], after=0, idle_for=traffic.idle_for))
    await traffic.asked_twice.wait()  # looked twice, found requests in flight both times
    assert "wave" not in sys.modules and not settling.done()

    traffic.busy = False
    await settling
    assert "wave" in sys.modules


@pytest.mark.usefixtures("unfrozen")
async def test_steady_traffic_does_not_put_the_later_modules_off_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "wave", raising=False)
    traffic = Traffic()  # never idle

    await freeze_once_settled(["wave"], after=0, idle_for=traffic.idle_for, latest=0.3)

    assert "wave" in sys.modules and traffic.busy


def test_after_a_burst_its_garbage_is_collected_at_once() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    node = Node()
    gone = weakref.ref(node)
    del node

    release_freed_memory()

    assert gone() is None
