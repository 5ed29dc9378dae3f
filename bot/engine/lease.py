"""Execution leases: the owner's heartbeat tells an execution still running on a live replica
from one whose process died, so crash recovery reconciles only the dead ones.

An execution is claimed with the claiming process's ``owner`` id and a ``heartbeat_at``; while
the process works on it, a timer renews the heartbeat every third of the lease. Recovery on any
replica may take over an execution only when its heartbeat is older than the lease (a
conditional UPDATE, so the owner's next heartbeat or confirmation then fails and it stops).

The renewal is a clock *timer*, not a task asleep on the clock: on a virtual clock it fires as
time passes, yet drivers that ask "is the work I wait for asleep on the clock?" do not count it.

A rollback may take a running execution over too (rollback.py): it moves the owner away, so the
next renewal fails; if the owner is in this process, its ``LeaseRegistry`` finds the lease and ``revoke``
stops it at once, and the waits it runs through ``interruptible`` end there and then.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TypeVar

from bot.engine.clock import Timer
from bot.engine.ports import Clock
from bot.engine.records import Execution
from bot.engine.store import ExecutionStore

DEFAULT_LEASE = timedelta(minutes=2)
BEATS_PER_LEASE = 3

T = TypeVar("T")


def new_owner_id() -> str:
    """Unique per process (and per Rollout): host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def lease_expired(execution: Execution, before: datetime) -> bool:
    """True when the last sign of life (heartbeat, else the claim) is older than ``before``."""
    last = execution.heartbeat_at or execution.started_at
    return last < before


def describe_lease(lease: timedelta) -> str:
    seconds = int(lease.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


class LeaseRegistry:
    """The leases one Rollout (one process, in production) keeps right now, by execution id, and the
    executions its executor gave up on; owned by whoever runs executions (the engine's Context).

    A rollback here finds a running executor's lease and stops it at once; recovery here leaves a
    lease it finds alone, and settles an abandoned execution (the store was out) without waiting
    out the lease. Another Rollout (another replica) has its own registry and sees none of these.
    """

    def __init__(self) -> None:
        self._held: dict[str, Lease] = {}
        self._abandoned: set[str] = set()

    def held(self, execution_id: str) -> Lease | None:
        """The lease kept here on ``execution_id``, if its executor runs here."""
        return self._held.get(execution_id)

    def abandon(self, execution_id: str) -> None:
        """The executor here stopped on ``execution_id`` (the store was out): recovery may take it at once."""
        self._abandoned.add(execution_id)

    def abandoned(self, execution_id: str) -> bool:
        return execution_id in self._abandoned

    def settled(self, execution_id: str) -> None:
        self._abandoned.discard(execution_id)

    def _keep(self, lease: Lease) -> None:
        self._held[lease.execution_id] = lease

    def _drop(self, lease: Lease) -> None:
        if self._held.get(lease.execution_id) is lease:
            del self._held[lease.execution_id]


class LeaseLost(Exception):
    """Internal: another replica took this execution over; ``before`` names what was not started."""

    def __init__(self, before: str) -> None:
        super().__init__(before)
        self.before = before


class Lease:
    """This process's hold on one claimed execution: renewed by a timer, confirmed before each change."""

    def __init__(
        self,
        store: ExecutionStore,
        clock: Clock,
        execution_id: str,
        owner: str,
        duration: timedelta,
        registry: LeaseRegistry,
    ) -> None:
        self._store = store
        self._registry = registry
        self._clock = clock
        self.execution_id = execution_id
        self.owner = owner
        self.duration = duration
        self._lost = False
        self._timer: Timer | None = None
        self._beating: asyncio.Task[None] | None = None
        self._kept = False
        self._lost_signal = asyncio.Event()
        self._released = asyncio.Event()

    @property
    def lost(self) -> bool:
        """True once a heartbeat was refused: the execution is no longer ours, or no longer active."""
        return self._lost

    @property
    def interval(self) -> float:
        return self.duration.total_seconds() / BEATS_PER_LEASE

    async def confirm(self) -> bool:
        """Renew now and say whether the execution is still ours; call it before changing anything."""
        if not self._lost and not await self._store.heartbeat(self.execution_id, self.owner, self._clock.now()):
            self._lose()
        return not self._lost

    async def require(self, before: str) -> None:
        """Raise LeaseLost (naming what is about to start) unless the execution is still ours."""
        if not await self.confirm():
            raise LeaseLost(before)

    def revoke(self) -> None:
        """The execution was taken over here (a rollback): stop at the next check or wait."""
        self._lose()

    async def released(self) -> None:
        """Return once the holder has left ``kept``: it changes nothing more after that."""
        if self._kept:
            await self._released.wait()

    async def interruptible(self, work: Awaitable[T], before: str) -> T:
        """Await ``work`` unless the lease is lost first: then cancel it and raise LeaseLost(before)."""
        task = asyncio.ensure_future(work)
        lost = asyncio.ensure_future(self._lost_signal.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled() and self._lost:
            raise LeaseLost(before)
        return task.result()

    @asynccontextmanager
    async def kept(self) -> AsyncIterator[Lease]:
        """Renew in the background for the duration of the block; no renewal outlives it."""
        self._kept = True
        self._released.clear()
        self._registry._keep(self)
        self._arm()
        try:
            yield self
        finally:
            self._kept = False
            self._registry._drop(self)
            if self._timer is not None:
                self._timer.cancel()
            if self._beating is not None:
                await asyncio.gather(self._beating, return_exceptions=True)
            self._released.set()

    def _lose(self) -> None:
        self._lost = True
        self._lost_signal.set()

    def _arm(self) -> None:
        if self._kept and not self._lost:
            self._timer = _call_later(self._clock, self.interval, self._due)

    def _due(self) -> None:
        self._beating = asyncio.get_running_loop().create_task(self._beat(self._clock.now()))

    async def _beat(self, at: datetime) -> None:
        try:
            if not await self._store.heartbeat(self.execution_id, self.owner, at) and self._kept:
                self._lose()
        except Exception:  # a failed renewal is retried next interval; a lease outlives a blip
            pass
        finally:
            self._beating = None
            self._arm()


def _call_later(clock: Clock, seconds: float, callback: Callable[[], None]) -> Timer:
    """The clock's own timer when it has one (System/VirtualClock), else the event loop's."""
    schedule: Callable[[float, Callable[[], None]], Timer] | None = getattr(clock, "call_later", None)
    if schedule is not None:
        return schedule(seconds, callback)
    return asyncio.get_running_loop().call_later(seconds, callback)
