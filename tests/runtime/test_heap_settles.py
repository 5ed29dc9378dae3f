"""Issue 14: serve freezes its start-up heap once settled, after importing what it will need later
in a worker thread (bot/heap.py), instead of stalling the loop just before its first answers."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

import pytest

from bot.heap import collector_paused, freeze_once_settled, freeze_startup_heap, release_freed_memory


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


def test_after_a_burst_its_garbage_is_collected_at_once() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    node = Node()
    gone = weakref.ref(node)
    del node

    release_freed_memory()

    assert gone() is None


@pytest.mark.usefixtures("unfrozen")
def test_a_collector_paused_for_the_start_runs_again_once_the_heap_is_frozen() -> None:
    with collector_paused():
        assert not gc.isenabled()
        freeze_startup_heap()
        assert gc.isenabled()


def test_a_start_that_stops_before_it_settled_leaves_the_collector_running() -> None:
    with collector_paused():
        assert not gc.isenabled()

    assert gc.isenabled()


def test_a_collector_that_was_off_before_the_start_stays_off_after_it() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass

        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.usefixtures("unfrozen")
async def test_what_opens_once_settled_opens_before_the_heap_is_frozen() -> None:
    frozen_at_opening: list[int] = []

    async def open_pages() -> None:
        frozen_at_opening.append(gc.get_freeze_count())

    await freeze_once_settled([], after=0, first=open_pages)

    assert frozen_at_opening == [0]
    assert gc.get_freeze_count() > 0


async def test_a_collector_paused_for_the_start_runs_again_even_when_what_opens_once_settled_fails() -> None:
    async def broken_pages() -> None:
        raise RuntimeError("the pages could not be built")

    with collector_paused():
        with pytest.raises(RuntimeError):
            await freeze_once_settled([], after=0, first=broken_pages)

        assert gc.isenabled()
