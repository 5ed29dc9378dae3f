"""The outbox's group commit (bot/slack/delivery/marks.py): a lone mark is written at once, marks
that arrive while a commit is under way share the next one, and a failed commit fails its marks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.engine.errors import StoreUnavailable
from bot.slack.delivery.marks import DeliveredMarks


class GatedMarks:
    """Stands in for the store's ``mark_many_delivered``: records each commit's marks, holds a commit
    open while ``gate`` is closed, and knows ``replaced`` ids as no longer current."""

    def __init__(self) -> None:
        self.commits: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.started = asyncio.Event()
        self.replaced: set[str] = set()
        self.failing: Exception | None = None

    async def mark_many(self, marks: Sequence[tuple[str, str | None]]) -> set[str]:
        self.started.set()
        await self.gate.wait()
        if self.failing is not None:
            raise self.failing
        self.commits.append([message_id for message_id, _ in marks])
        return {message_id for message_id, _ in marks} - self.replaced


async def test_a_lone_mark_is_committed_at_once_and_alone() -> None:
    store = GatedMarks()
    assert await DeliveredMarks(store.mark_many).mark("m1", "1.1") is True
    assert store.commits == [["m1"]]


async def test_marks_arriving_during_a_commit_share_the_next_one() -> None:
    store = GatedMarks()
    marks = DeliveredMarks(store.mark_many)
    store.gate.clear()
    first = asyncio.create_task(marks.mark("m1", "1.1"))
    await store.started.wait()  # m1's commit is under way
    later = [asyncio.create_task(marks.mark(f"m{n}", f"1.{n}")) for n in (2, 3, 4)]
    await asyncio.sleep(0)  # each has queued its mark
    store.gate.set()
    assert await asyncio.gather(first, *later) == [True] * 4
    assert store.commits == [["m1"], ["m2", "m3", "m4"]]


async def test_a_mark_of_a_replaced_message_says_so() -> None:
    store = GatedMarks()
    store.replaced = {"old"}
    marks = DeliveredMarks(store.mark_many)
    assert list(await asyncio.gather(marks.mark("old", "1.1"), marks.mark("new", "1.2"))) == [False, True]


async def test_a_failed_commit_fails_each_of_its_marks_and_the_next_mark_is_written_afresh() -> None:
    store = GatedMarks()
    marks = DeliveredMarks(store.mark_many)
    store.failing = StoreUnavailable("the database cannot be reached")
    with pytest.raises(StoreUnavailable):
        await marks.mark("m1", "1.1")
    store.failing = None
    assert await marks.mark("m2", "1.2") is True
    assert store.commits == [["m2"]]
