"""What Slack delivery keeps in the database: the outbox of chat messages and the small settings
that find a card's messages again. Declared here, by their one consumer; bot/store implements them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.engine.deliveries import Rider
from bot.engine.ports import JSON
from bot.engine.ports import KeyValueStore as KeyValueStore


@dataclass
class OutboxMessage:
    """A chat message waiting for delivery. ``dedupe_key`` makes enqueueing idempotent."""

    id: str
    channel: str
    payload: dict[str, JSON]
    dedupe_key: str
    created_at: datetime
    attempts: int = 0
    delivered_at: datetime | None = None
    delivered_ts: str | None = None
    last_error: str | None = None


class OutboxStore(Protocol):
    async def enqueue(
        self, channel: str, payload: dict[str, JSON], dedupe_key: str, *, replace: bool = False
    ) -> OutboxMessage:
        """Store once per dedupe_key; a second call returns the existing message. With ``replace``
        the key's message takes the new payload, pending again under a new id (card updates)."""
        ...

    async def enqueue_and_claim(
        self,
        channel: str,
        payload: dict[str, JSON],
        dedupe_key: str,
        owner: str,
        hold: timedelta,
        *,
        replace: bool = False,
        answer: tuple[str, str] | None = None,
    ) -> tuple[OutboxMessage, bool]:
        """``enqueue`` and ``claim`` as one: the message, and whether ``owner`` now holds it.
        ``answer`` (a Slack delivery's key and first answer) is kept on its row in the same transaction."""
        ...

    async def stage(
        self, channel: str, payload: dict[str, JSON], dedupe_key: str, owner: str, hold: timedelta
    ) -> tuple[OutboxMessage, Rider]:
        """The message as ``enqueue_and_claim`` would store it, held by ``owner``, and the rider that
        writes it in the transaction of the current delivery's claim (bot/engine/deliveries.py)."""
        ...

    async def pending(self, limit: int = 50) -> list[OutboxMessage]:
        """Undelivered messages without a live claim, oldest first."""
        ...

    async def claim(self, dedupe_key: str, owner: str, hold: timedelta) -> OutboxMessage | None:
        """Hold the key's undelivered message for ``owner`` while it is sent; None when it is delivered
        or someone's claim is still live. Claims expire after ``hold`` (a crashed replica's)."""
        ...

    async def release(self, dedupe_key: str, owner: str) -> None: ...

    async def mark_delivered(self, message_id: str, ts: str | None) -> bool:
        """Delivered and released; False when the message was replaced meanwhile (still pending)."""
        ...

    async def mark_many_delivered(self, marks: Sequence[tuple[str, str | None]]) -> set[str]:
        """``mark_delivered`` for each (id, ts) in one transaction; the ids still current."""
        ...

    async def mark_failed(self, message_id: str, error: str) -> None: ...

    async def fail_and_release(self, message_id: str, dedupe_key: str, owner: str, error: str) -> None:
        """``mark_failed`` and ``release`` in one transaction (a failed try gives its claim back)."""
        ...
