"""Exactly once per Slack delivery, the store half: a request's key is taken in the transaction of its first effect.

Slack sends a slash command, a click or a dialog submission again when it saw no ack within 3 s
(over HTTP with X-Slack-Retry-Num, over Socket Mode as the same envelope, perhaps to another
replica), and a person may submit one dialog twice. The Slack layer names the delivery
(``handling``: its trigger id, or a dialog's view id and hash); inside it, the first store
transaction that writes anything also inserts the delivery's row, so the claim commits with the
effect or not at all: a crash in between loses neither, and the next delivery does the work.
A second delivery's first write finds the row taken by another: its transaction rolls back and
``AlreadyHandled`` carries when the first was handled and what it answered. Later transactions of
the delivery that took the row (and tasks it started) know they own it and pay nothing more.

What is known when the row is taken goes in with it, in the same transaction: the first answer
(a refusal's, noted before its audit entry is written) and the delivery's riders (its reply's
outbox row), so a refused request is one commit, not one each for the claim, answer and reply.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from bot.engine.deliveries import (
    AlreadyHandled,
    Delivery,
    current_delivery,
    handling,
    note_answer,
    outside_delivery,
)
from bot.store.tables import DeliveryRow

__all__ = [
    "AlreadyHandled",
    "Delivery",
    "claim",
    "count_writes",
    "current_delivery",
    "forget_old",
    "handling",
    "keep_answer",
    "note_answer",
    "outside_delivery",
    "store_answer",
    "taken_by_another",
]

KEEP = timedelta(days=1)  # Slack's last retry comes minutes after the first try; a day is plenty
_WRITES = "ion.statements_written"  # per DBAPI connection: INSERT/UPDATE/DELETE statements run so far
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE")
# Columns, not the ORM entity: a claim is looked up on a session or on a bare Core connection.
_CLAIM_OF = select(DeliveryRow.owner, DeliveryRow.claimed_at, DeliveryRow.answer).where(
    DeliveryRow.key == bindparam("key")
)
_KEEP_ANSWER = (
    update(DeliveryRow)
    .where(DeliveryRow.key == bindparam("b_key"), DeliveryRow.answer.is_(None))
    .values(answer=bindparam("v_answer"))
)
_FORGET_BEFORE = delete(DeliveryRow).where(DeliveryRow.claimed_at < bindparam("before"))


def count_writes(engine: AsyncEngine) -> None:
    """Count each connection's INSERT/UPDATE/DELETE statements, so a transaction knows it wrote."""
    if not event.contains(engine.sync_engine, "before_cursor_execute", _on_execute):
        event.listen(engine.sync_engine, "before_cursor_execute", _on_execute)


def _on_execute(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
    if statement.lstrip()[:6].upper() in _WRITE_VERBS:
        conn.info[_WRITES] = conn.info.get(_WRITES, 0) + 1


async def writes_so_far(session: AsyncSession) -> int:
    return writes_on(await session.connection())


def writes_on(connection: AsyncConnection) -> int:
    return int(connection.info.get(_WRITES, 0))


async def claim(session: AsyncSession | AsyncConnection, delivery: Delivery, now: datetime, insert: Any) -> None:
    """Take ``delivery``'s row in this transaction, or raise AlreadyHandled when another delivery has it.

    ``insert`` is the store's INSERT ... ON CONFLICT DO NOTHING (True when it wrote the row). The
    row holds the first answer when it is known already, and the delivery's riders write with it.
    """
    values = {
        "key": delivery.key,
        "owner": delivery.token,
        "user_id": delivery.user,
        "claimed_at": now,
        "answer": delivery.answer,
    }
    if await insert(session, values):
        delivery.kept = delivery.answer  # counts once the caller commits and marks the delivery owned
        for rider in list(delivery.riders):
            await rider(session)
        return
    row = (await session.execute(_CLAIM_OF, {"key": delivery.key})).one()
    if row.owner != delivery.token:
        raise AlreadyHandled(delivery.key, row.claimed_at, row.answer)


async def taken_by_another(session: AsyncSession | AsyncConnection, delivery: Delivery) -> AlreadyHandled | None:
    """Another delivery's claim on ``delivery``'s key, as the AlreadyHandled it would have raised."""
    row = (await session.execute(_CLAIM_OF, {"key": delivery.key})).one_or_none()
    if row is None or row.owner == delivery.token:
        return None
    return AlreadyHandled(delivery.key, row.claimed_at, row.answer)


def store_answer(connection: Connection, key: str, answer: str, now: datetime) -> None:
    """Keep ``answer`` on the row, and forget rows older than KEEP (here, not in the effect's
    transaction: that one stays as short as it was)."""
    forget_old(connection, now)
    keep_answer(connection, key, answer)


def keep_answer(connection: Connection, key: str, answer: str) -> None:
    """Keep ``answer`` on the row, unless it holds one already (the first answer is the one kept)."""
    connection.execute(_KEEP_ANSWER, {"b_key": key, "v_answer": answer})


def forget_old(connection: Connection, now: datetime) -> None:
    """Rows older than KEEP: Slack stopped sending their requests again long before."""
    connection.execute(_FORGET_BEFORE, {"before": now - KEEP})
