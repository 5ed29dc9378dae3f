"""Real and virtual time: the engine takes a Clock so tests move time instead of sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta


class SystemClock:
    """Wall-clock time in UTC and asyncio's sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Time that moves only when told to; sleepers wake in deadline order as it passes them.

    ``advance`` lets each woken sleeper run (and possibly sleep again) before moving on, so a
    loop that sleeps 60 s at a time sees every minute of a ten-minute advance.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start time, e.g. datetime(..., tzinfo=UTC)")
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._now

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting (tests use it to know a task has reached its sleep)."""
        return sum(1 for _, _, fut in self._sleepers if not fut.done())

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + timedelta(seconds=seconds), next(self._order), future))
        await future

    async def advance(self, delta: timedelta) -> None:
        await self.advance_to(self._now + delta)

    async def advance_to(self, when: datetime) -> None:
        """Move to ``when``, waking every sleeper whose deadline is reached, earliest first."""
        if when < self._now:
            raise ValueError("a virtual clock does not go backwards")
        await _settle()
        while self._sleepers and self._sleepers[0][0] <= when:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            await _settle()
        self._now = when
        await _settle()


async def _settle(rounds: int = 20) -> None:
    """Let ready tasks run until they block again (on a sleep, or on each other)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
