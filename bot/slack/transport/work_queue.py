"""Ack first, then work in bounded slots: Slack's answer is never stuck behind other requests' work.

Each listener runs as its own task; the moment it calls ``ack()`` the HTTP answer goes out, and
only then does the listener wait for one of a few work slots (and, with an order key, for the
earlier work of the same channel) before doing the rest. A pile of requests therefore waits
parked, not running, and the event loop that sends the acks stays free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck
from slack_bolt.response import BoltResponse

log = structlog.get_logger(__name__)

DEFAULT_WORKERS = 4
Listener = Callable[[AsyncAck], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


class _AckThenWait(AsyncAck):
    """Stands in for Bolt's ack: answers Slack, tells the dispatcher, then waits for a work slot."""

    def __init__(self, real: AsyncAck, acked: asyncio.Future[None], take_slot: Callable[[], Awaitable[None]]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._real = real
        self._acked = acked
        self._take_slot = take_slot
        self._waited = False

    async def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        response = await self._real(*args, **kwargs)
        self.response = response
        if not self._acked.done():
            self._acked.set_result(None)
        if not self._waited:
            self._waited = True
            await self._take_slot()
        return response


class WorkQueue:
    """At most ``workers`` listeners past their ack at once; per order key, in arrival order.

    ``inline`` runs each listener to the end before its dispatch returns (tests, the console).
    """

    def __init__(self, spawn: Spawn, *, workers: int = DEFAULT_WORKERS, inline: bool = False) -> None:
        if workers < 1:
            raise ValueError(f"a work queue needs at least one worker, not {workers}; nothing was started.")
        self.workers = workers
        self.inline = inline
        self._spawn = spawn
        self._slots = asyncio.Semaphore(workers)
        self._tails: dict[str, asyncio.Future[None]] = {}
        self.busy = 0

    def _waits_for(self, key: str) -> list[asyncio.Future[None]]:
        """The work a job of ``key`` waits for: the last of its own key, and of the keys nested with it
        (``command:C1`` holds the run, so ``command:C1:day1.1`` waits for a ``start`` sent before it,
        and a ``start`` waits for every step's work sent before it); other steps do not wait."""
        return [
            tail
            for other, tail in self._tails.items()
            if other == key or key.startswith(other + ":") or other.startswith(key + ":")
        ]

    async def dispatch(self, ack: AsyncAck, listener: Listener, *, order_key: str | None = None) -> None:
        """Return as soon as ``listener`` has acked (or finished); its remaining work runs in a slot.

        An error before the ack is raised here, so Bolt answers Slack with an error as before.
        """
        if self.inline:
            await listener(ack)
            return
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[None] = loop.create_future()
        # Take the channel's place in line now, in arrival order, without waiting for anything yet.
        before = self._waits_for(order_key) if order_key else []
        mine: asyncio.Future[None] = loop.create_future()
        if order_key:
            self._tails[order_key] = mine
        held: list[bool] = []
        failed: list[BaseException] = []

        async def take_slot() -> None:
            for earlier in before:
                await earlier
            await self._slots.acquire()
            held.append(True)
            self.busy += 1

        async def work() -> None:
            try:
                await listener(_AckThenWait(ack, acked, take_slot))
            except Exception as error:
                if acked.done():
                    log.exception("slack listener failed after its ack", error=str(error))
                else:
                    failed.append(error)
            finally:
                if held:
                    self.busy -= 1
                    self._slots.release()
                mine.set_result(None)
                if order_key and self._tails.get(order_key) is mine:
                    del self._tails[order_key]
                if not acked.done():
                    acked.set_result(None)

        self._spawn(work())
        await acked
        if failed:
            raise failed[0]
