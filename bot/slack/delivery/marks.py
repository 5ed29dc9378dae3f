"""Delivered marks, committed together: a group commit for the outbox.

Each message the outbox sends is marked delivered in the database afterwards. One transaction
per mark made every answer wait its turn for SQLite's one writer; here the marks that arrive
while a commit is under way wait for the next one, which writes them all. A lone mark is written
at once (nothing waits for company), so this adds no delay, only fewer transactions under load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

MarkMany = Callable[[Sequence[tuple[str, str | None]]], Awaitable[set[str]]]


class DeliveredMarks:
    """``mark`` waits until its message's mark is committed, with whatever other marks came meanwhile."""

    def __init__(self, mark_many: MarkMany) -> None:
        self._mark_many = mark_many
        self._waiting: list[tuple[str, str | None, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def mark(self, message_id: str, ts: str | None) -> bool:
        """True when ``message_id`` was still the key's content (not replaced meanwhile) and is marked."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((message_id, ts, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # Shielded: a caller cut off while waiting leaves the mark to be written all the same.
        return await asyncio.shield(done)

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                current = await self._mark_many([(message_id, ts) for message_id, ts, _ in batch])
            except Exception as error:  # each waiting caller gets the failure, as its own mark would have
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                continue
            for message_id, _, done in batch:
                if not done.done():
                    done.set_result(message_id in current)
