"""Exactly once per Slack delivery, the framework-free half: which delivery is being handled,
what it answered first, and what a redelivery is told.

The chat layer names the delivery (``handling``); the store claims it in the transaction of the
request's first effect (bot/store/deliveries.py), and raises ``AlreadyHandled`` when another
delivery of the same request took it first. ``DeliveryLedger`` is the port the chat layer uses.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, Protocol

from bot.engine.units import current_unit

if TYPE_CHECKING:
    from bot.engine.ports import JSON, Actor
    from bot.engine.records import Run

# How long a first look is good for: a handler that first waited on something slow (a Slack call, a
# metric history) reads the run and the settings afresh, as if no look had been taken.
LOOK_FRESH_SECONDS = 1.0
look_clock: Callable[[], float] = time.monotonic  # tests put their own clock here

# A write of the store's own (its session passed in) made in the transaction that takes the delivery.
Rider = Callable[[Any], Awaitable[bool]]


@dataclass
class Delivery:
    """One Slack delivery being handled here; ``token`` tells its own row from another delivery's."""

    key: str
    user: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    owned: bool = False  # its row is committed: later transactions need no claim
    answer: str | None = None  # the first sentence said to ``user``, stored when the handler ends
    kept: str | None = None  # the answer its row holds (written with the claim or with the reply)
    actor: Actor | None = None  # who sent it, once the chat layer resolved them (a refusal's audit reuses it)
    # channel -> its open run (or None) as read before the delivery wrote anything: what a refusal
    # was decided on, so its audit entry names that run without reading the channel again.
    runs_seen: dict[str, Run | None] = field(default_factory=dict)
    # What its first look read in one transaction (``keep_first_look``): each handed once, to the
    # first reader that asks, while nothing has been written; every later read is the database's.
    looked_runs: dict[str, Run | None] = field(default_factory=dict)
    looked_values: dict[str, JSON | None] = field(default_factory=dict)
    looked_at: float | None = None  # ``look_clock()`` when it was taken
    # Writes that go with the claim, in its transaction (a refusal's reply: one commit, not three).
    riders: list[Rider] = field(default_factory=list)


_CURRENT: ContextVar[Delivery | None] = ContextVar("ion_slack_delivery", default=None)


def current_delivery() -> Delivery | None:
    return _CURRENT.get()


@contextmanager
def handling(key: str | None, user: str) -> Iterator[Delivery | None]:
    """The store's writes inside are this delivery's; without a key the delivery around (if any) goes on."""
    if not key:
        yield _CURRENT.get()
        return
    delivery = Delivery(key, user)
    token = _CURRENT.set(delivery)
    try:
        yield delivery
    finally:
        _CURRENT.reset(token)


def seen_run(channel: str, run: Run | None) -> None:
    """The current delivery read ``run`` as ``channel``'s open run (only while it has written nothing)."""
    delivery = _CURRENT.get()
    if delivery is not None and not delivery.owned:
        delivery.runs_seen[channel] = run


def keep_first_look(channel: str, run: Run | None, values: Mapping[str, JSON | None]) -> None:
    """What the current delivery's first look read: ``channel``'s open run and the settings ``values``."""
    delivery = _CURRENT.get()
    if delivery is not None and not delivery.owned:
        delivery.looked_runs[channel] = run
        delivery.looked_values.update(values)
        delivery.looked_at = look_clock()


def looked_run(channel: str) -> tuple[bool, Run | None]:
    """(True, the run) the first time ``channel``'s run is asked for after the first look read it,
    unless something may have been written since (the delivery's row taken, or a unit open) or the
    look is more than ``LOOK_FRESH_SECONDS`` old."""
    delivery = _first_look_valid()
    if delivery is None or channel not in delivery.looked_runs:
        return False, None
    return True, delivery.looked_runs.pop(channel)


def looked_value(key: str) -> tuple[bool, JSON | None]:
    """``looked_run`` for the setting ``key``."""
    delivery = _first_look_valid()
    if delivery is None or key not in delivery.looked_values:
        return False, None
    return True, delivery.looked_values.pop(key)


def _first_look_valid() -> Delivery | None:
    delivery = _CURRENT.get()
    if delivery is None or delivery.owned or current_unit() is not None or delivery.looked_at is None:
        return None
    if look_clock() - delivery.looked_at > LOOK_FRESH_SECONDS:
        return None
    return delivery


def run_seen(channel: str) -> tuple[bool, Run | None]:
    """(True, the run) when the current delivery read ``channel``'s open run and has written nothing since."""
    delivery = _CURRENT.get()
    if delivery is None or delivery.owned or channel not in delivery.runs_seen:
        return False, None
    return True, delivery.runs_seen[channel]


def answer_to_keep() -> tuple[str, str] | None:
    """(key, answer) of the current delivery when its row is taken and does not hold its first answer yet."""
    delivery = _CURRENT.get()
    if delivery is None or not delivery.owned or delivery.answer is None or delivery.kept == delivery.answer:
        return None
    return delivery.key, delivery.answer


def answer_kept(answer: tuple[str, str]) -> None:
    """``answer`` (from ``answer_to_keep``) is committed on its delivery's row: nothing more to store."""
    delivery = _CURRENT.get()
    if delivery is not None and delivery.key == answer[0]:
        delivery.kept = answer[1]


@contextmanager
def outside_delivery() -> Iterator[None]:
    """Bookkeeping (where a card was posted) that is no effect of the request and must not claim it."""
    token = _CURRENT.set(None)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def note_answer(user: str, text: str) -> None:
    """Remember the first sentence said to the person whose delivery this is (stored by the handler)."""
    delivery = _CURRENT.get()
    if delivery is not None and delivery.answer is None and delivery.user == user:
        delivery.answer = text


class AlreadyHandled(Exception):
    """This delivery was handled before (here or on another replica); nothing was changed again."""

    def __init__(self, key: str, at: datetime, answer: str | None) -> None:
        super().__init__(f"the Slack delivery {key} was already handled at {at.isoformat()}")
        self.key = key
        self.at = at
        self.answer = answer

    def again(self, zone: tzinfo) -> str:
        """What the person is told again: the first answer, and that nothing was done twice."""
        note = (
            f"Slack delivered this request again; it was already handled at {self.at.astimezone(zone):%H:%M %Z}, "
            "and nothing was changed again."
        )
        return f"{self.answer}\n({note})" if self.answer else note


class DeliveryLedger(Protocol):
    """The store's side of a delivery, as the chat layer sees it."""

    async def take_delivery(self) -> None:
        """Claim the current delivery now (its only effect is what it shows); AlreadyHandled if taken."""
        ...

    async def handled_elsewhere(self) -> AlreadyHandled | None:
        """Whether another delivery of the current request took it (None outside a delivery)."""
        ...

    async def delivery_answered(self, key: str, answer: str) -> None:
        """Keep the first answer of the delivery ``key``, for its redeliveries."""
        ...

    async def first_look(self, channel: str, keys: Sequence[str]) -> tuple[Run | None, dict[str, JSON | None]]:
        """``channel``'s open run and the settings ``keys`` (None where unset), read in one transaction."""
        ...
