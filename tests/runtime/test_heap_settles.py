"""Issue 14: serve freezes its start-up heap once settled, after importing what it will need later
in a worker thread (bot/heap.py), instead of stalling the loop just before its first answers."""

from __future__ import annotations

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


def test_after_a_burst_its_garbage_is_collected_at_once() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    node = Node()
    gone = weakref.ref(node)
    del node

    release_freed_memory()

    assert gone() is None
