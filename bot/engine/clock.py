"""Real and virtual time: the engine takes a Clock so tests move time instead of sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Timer(Protocol):
    """A callback scheduled on a clock; ``cancel`` before it fires and it never does."""

    def cancel(self) -> None: ...


class SystemClock:
    """Wall-clock time in UTC and asyncio's sleep."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` after ``seconds``; a timer is no task and no sleeper (see VirtualClock)."""
        return asyncio.get_running_loop().call_later(max(0.0, seconds), callback)


class _VirtualTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Time that moves only when told to; sleepers wake in deadline order as it passes them.

    ``advance`` lets each woken sleeper run (and possibly sleep again) before moving on, so a
    loop that sleeps 60 s at a time sees every minute of a ten-minute advance.

    Timers (``call_later``) fire in the same deadline order but are not counted in ``sleepers``:
    background chores such as an execution's heartbeat must not make a driver believe that the
    work it waits for is asleep on the clock.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start time, e.g. datetime(..., tzinfo=UTC)")
        self._now = start.astimezone(UTC)
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._timers: list[tuple[datetime, int, _VirtualTimer]] = []
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

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        timer = _VirtualTimer(callback)
        heapq.heappush(self._timers, (self._now + timedelta(seconds=max(0.0, seconds)), next(self._order), timer))
        return timer

    async def advance(self, delta: timedelta) -> None:
        await self.advance_to(self._now + delta)

    async def advance_to(self, when: datetime) -> None:
        """Move to ``when``, waking every sleeper whose deadline is reached, earliest first."""
        if when < self._now:
            raise ValueError("a virtual clock does not go backwards")
        await _settle()
        while True:
            sleeper = self._sleepers[0][:2] if self._sleepers else None
            timer = self._timers[0][:2] if self._timers else None
            if timer is not None and timer[0] <= when and (sleeper is None or timer < sleeper):
                deadline, _, due = heapq.heappop(self._timers)
                if due.cancelled:  # nothing to run (the outbox cancels one per delivered call): no settle
                    continue
                self._now = max(self._now, deadline)
                due.callback()
            elif sleeper is not None and sleeper[0] <= when:
                deadline, _, future = heapq.heappop(self._sleepers)
                self._now = max(self._now, deadline)
                if not future.done():
                    future.set_result(None)
            else:
                break
            await _settle()
        self._now = when
        await _settle()


async def _settle(rounds: int = 20) -> None:
    """Let ready tasks run until they block again (on a sleep, or on each other)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
