"""One unit of work: a use case's writes commit together or not at all, and the chat hears of them after.

A use case whose record takes several store writes (an incident, its audit entry and its alert; an
alert's change and its page) opens ``async with unit_of_work():`` around them. Every store call of
the same asyncio task inside it joins one transaction per store (a SQL store: one session; the
engine tests' FakeStore: one snapshot to restore); the outermost unit commits them at its end and
rolls all of them back when anything inside raises. A Slack delivery's claim is taken once, in that
transaction (bot/store/base.py). What the unit announces (``after_commit``: events, outbox kicks)
runs only once it committed, so the chat never tells of a change that was rolled back.

Keep a unit short: never a cloud call, a Slack call or a sleep inside it (SQLite has one writer). A
task started inside a unit does not join it: its store calls are their own transactions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

AfterCommit = Callable[[], Awaitable[None]]


class Participant(Protocol):
    """A store's share of a unit: its open transaction, committed or rolled back with the unit."""

    async def commit(self) -> None: ...

    async def rollback(self, error: BaseException) -> None: ...


class Unit:
    """The open unit of one task: the stores that joined it, and what runs after its commit."""

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        self.task = task
        self.participants: dict[object, Participant] = {}
        self.after: list[AfterCommit] = []
        self.after_either: list[AfterCommit] = []  # run when it ends, committed or rolled back

    def joined(self, key: object) -> Participant | None:
        return self.participants.get(key)

    def join(self, key: object, participant: Participant) -> None:
        self.participants[key] = participant


_CURRENT: ContextVar[Unit | None] = ContextVar("ion_unit_of_work", default=None)


def current_unit() -> Unit | None:
    """The unit this task has open, if any (a task started inside one has its own transactions)."""
    unit = _CURRENT.get()
    if unit is None or unit.task is not _task():
        return None
    return unit


@asynccontextmanager
async def unit_of_work() -> AsyncIterator[None]:
    """Everything the stores write inside commits together at the end, or nothing does; a nested
    unit joins the one around it."""
    if current_unit() is not None:
        yield
        return
    unit = Unit(_task())
    token = _CURRENT.set(unit)
    try:
        try:
            yield
        except BaseException as error:
            await _roll_back(unit, error)
            raise
        await _commit(unit)
    except BaseException:
        _CURRENT.reset(token)
        for callback in unit.after_either:  # its error replaces the unit's, as if raised where it was asked
            await callback()
        raise
    _CURRENT.reset(token)
    for callback in unit.after_either:
        await callback()
    for callback in unit.after:
        try:
            await callback()
        except Exception:  # the change is committed; its announcement failing must not undo the caller
            log.exception("after-commit callback failed")


async def after_commit(callback: AfterCommit) -> None:
    """Run ``callback`` once the open unit has committed (dropped if it rolls back); now, outside one."""
    unit = current_unit()
    if unit is None:
        await callback()
    else:
        unit.after.append(callback)


async def after_unit(callback: AfterCommit) -> None:
    """Run ``callback`` in its own transaction once the open unit has ended, committed or rolled
    back (the audit entry of a refusal, which stays whatever became of the unit); now, outside one.
    An error it raises reaches the unit's caller (a redelivery's AlreadyHandled, say)."""
    unit = current_unit()
    if unit is None:
        await callback()
    else:
        unit.after_either.append(callback)


async def _commit(unit: Unit) -> None:
    """Commit each participant; should one fail, roll back the ones not yet committed."""
    pending = list(unit.participants.values())
    while pending:
        participant = pending.pop(0)
        try:
            await participant.commit()
        except BaseException as error:
            for rest in pending:
                await rest.rollback(error)
            raise


async def _roll_back(unit: Unit, error: BaseException) -> None:
    for participant in unit.participants.values():
        try:
            await participant.rollback(error)
        except Exception:  # the first error is the one the caller must see
            log.exception("unit rollback failed")


def _task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None
