"""The outbox (OutboxStore) and scheduled-post claims (ClaimStore); settings are in settings.py.

Prebuilt Core statements in transactions run at once (StoreBase._read/_write/_bookkeeping): the
outbox is written on every answer and card redraw (issue 14).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.deliveries import Rider
from bot.engine.ports import JSON
from bot.safe_text import clean, clean_json
from bot.slack.delivery.ports import OutboxMessage
from bot.store import deliveries
from bot.store.base import StoreBase, execute, upsert
from bot.store.tables import OutboxRow, PostClaimRow


def _message(row: OutboxRow | Row[Any]) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        channel=row.channel,
        payload=dict(row.payload),
        dedupe_key=row.dedupe_key,
        created_at=row.created_at,
        attempts=row.attempts,
        delivered_at=row.delivered_at,
        delivered_ts=row.delivered_ts,
        last_error=row.last_error,
    )


def _held(values: dict[str, Any]) -> OutboxMessage:
    """The message a fresh row of ``values`` is, without reading it back (its text cleaned as the
    store writes it, bot/safe_text.py)."""
    return OutboxMessage(
        id=values["id"],
        channel=clean(values["channel"]),
        payload=clean_json(dict(values["payload"])),
        dedupe_key=values["dedupe_key"],
        created_at=values["created_at"],
    )


# Built once (statements are rebuilt and re-keyed per call otherwise): the marks' and settings' hot paths.
_CURRENT_IDS = select(OutboxRow.id).where(OutboxRow.id.in_(bindparam("ids", expanding=True)))
_POST_ONCE = ("job_key", "run_id", "local_date")  # uq_post_claims_once
FORGET_EVERY = timedelta(minutes=10)  # day-old delivery rows need no forgetting at every commit

_OUTBOX = OutboxRow.__table__.c
_MARK = (
    update(OutboxRow.__table__)  # type: ignore[arg-type]
    .where(_OUTBOX.id == bindparam("message_id"))
    .values(
        delivered_at=bindparam("at"),
        delivered_ts=bindparam("ts"),
        attempts=_OUTBOX.attempts + 1,
        claimed_by=None,
        claimed_until=None,
    )
)
_MARK_ONE = _MARK.returning(_OUTBOX.id)  # one mark (the usual group): marked and checked in one statement
# The send path's claim and read-back as Core statements on the table, built once: the ORM's
# UPDATE (its session synchronising, the statement rebuilt and re-keyed each call) cost several
# times the statement itself, for a session that holds no rows.
_CLAIM = (
    update(OutboxRow.__table__)  # type: ignore[arg-type]
    .where(
        _OUTBOX.dedupe_key == bindparam("key"),
        _OUTBOX.delivered_at.is_(None),
        or_(_OUTBOX.claimed_until.is_(None), _OUTBOX.claimed_until <= bindparam("now")),
    )
    .values(claimed_by=bindparam("owner"), claimed_until=bindparam("until"))
    .returning(_OUTBOX.id)
)
_BY_KEY = select(OutboxRow.__table__).where(_OUTBOX.dedupe_key == bindparam("dedupe_key"))
_PENDING = (
    select(OutboxRow.__table__)
    .where(
        _OUTBOX.delivered_at.is_(None),
        or_(_OUTBOX.claimed_until.is_(None), _OUTBOX.claimed_until <= bindparam("now")),
    )
    .order_by(_OUTBOX.created_at, _OUTBOX.id)
    .limit(bindparam("limit"))
)
_RELEASE = (
    update(OutboxRow.__table__)  # type: ignore[arg-type]
    .where(_OUTBOX.dedupe_key == bindparam("b_key"), _OUTBOX.claimed_by == bindparam("b_owner"))
    .values(claimed_by=None, claimed_until=None)
)
_FAILED = (
    update(OutboxRow.__table__)  # type: ignore[arg-type]
    .where(_OUTBOX.id == bindparam("message_id"))
    .values(last_error=bindparam("error"), attempts=_OUTBOX.attempts + 1)
)
_POST_CLAIMS = PostClaimRow.__table__.c
_RELEASE_POST = delete(PostClaimRow.__table__).where(  # type: ignore[arg-type]
    _POST_CLAIMS.job_key == bindparam("job_key"),
    _POST_CLAIMS.run_id == bindparam("run_id"),
    _POST_CLAIMS.local_date == bindparam("local_date"),
)


def _store_message(connection: Connection, values: dict[str, Any], *, replace: bool) -> None:
    """The key's message stored (with ``replace``, its row rewritten to ``values``)."""
    if replace:
        values |= {"delivered_at": None, "delivered_ts": None, "last_error": None}
    upsert(connection, OutboxRow, values, keys=["dedupe_key"], on_conflict="update" if replace else "nothing")


def _message_of(connection: Connection, dedupe_key: str) -> OutboxMessage:
    return _message(connection.execute(_BY_KEY, {"dedupe_key": dedupe_key}).one())


def _claimed(connection: Connection, dedupe_key: str, owner: str, now: datetime, hold: timedelta) -> bool:
    params = {"key": dedupe_key, "now": now, "owner": owner, "until": now + hold}
    return connection.execute(_CLAIM, params).first() is not None


def _enqueue(connection: Connection, values: dict[str, Any], replace: bool) -> OutboxMessage:
    _store_message(connection, values, replace=replace)
    return _message_of(connection, values["dedupe_key"])


def _enqueue_and_claim(
    connection: Connection,
    values: dict[str, Any],
    held: dict[str, Any] | None,
    owner: str,
    hold: timedelta,
    answer: tuple[str, str] | None,
) -> tuple[OutboxMessage, bool]:
    """``held``: the row a new key gets, written already claimed (None when replacing with ``values``)."""
    if answer is not None:
        deliveries.keep_answer(connection, *answer)
    if held is not None:
        if upsert(connection, OutboxRow, held, keys=["dedupe_key"], on_conflict="nothing"):
            return _held(held), True
        # The key's row was there already: it is what the claim finds, and read back.
        claimed = _claimed(connection, held["dedupe_key"], owner, held["created_at"], hold)
        return _message_of(connection, held["dedupe_key"]), claimed
    # Replaced: every column the message has is the new values', so nothing is read back.
    _store_message(connection, values, replace=True)
    return _held(values), _claimed(connection, values["dedupe_key"], owner, values["created_at"], hold)


def _claim(connection: Connection, dedupe_key: str, owner: str, now: datetime, hold: timedelta) -> OutboxMessage | None:
    if not _claimed(connection, dedupe_key, owner, now, hold):
        return None
    return _message_of(connection, dedupe_key)


def _pending(connection: Connection, now: datetime, limit: int) -> list[OutboxMessage]:
    return [_message(row) for row in connection.execute(_PENDING, {"now": now, "limit": limit})]


def _marked(connection: Connection, marks: Sequence[tuple[str, str | None]], now: datetime, forget: bool) -> set[str]:
    if len(marks) == 1:
        ((message_id, ts),) = marks
        marked = connection.execute(_MARK_ONE, {"message_id": message_id, "at": now, "ts": ts})
        current = {message_id} if marked.first() is not None else set()
    else:
        found = connection.scalars(_CURRENT_IDS, {"ids": [message_id for message_id, _ in marks]})
        current = set(found.all())
        params = [{"message_id": i, "at": now, "ts": ts} for i, ts in marks if i in current]
        if params:
            connection.execute(_MARK, params)
    if forget:
        deliveries.forget_old(connection, now)
    return current


def _fail_and_release(connection: Connection, message_id: str, dedupe_key: str, owner: str, error: str) -> None:
    connection.execute(_FAILED, {"message_id": message_id, "error": error})
    connection.execute(_RELEASE, {"b_key": dedupe_key, "b_owner": owner})


class DeliveryStore(StoreBase):
    _forgotten_at: datetime | None = None  # when mark_many_delivered last forgot old delivery rows

    async def enqueue(
        self, channel: str, payload: dict[str, JSON], dedupe_key: str, *, replace: bool = False
    ) -> OutboxMessage:
        """Store once per ``dedupe_key``. With ``replace`` the key's row takes the new payload and is
        pending again under a new id, so a deliverer still sending the old id cannot mark it delivered."""
        return await self._bookkeeping(_enqueue, self._message_values(channel, payload, dedupe_key), replace)

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
        """``enqueue`` then ``claim`` in one transaction (the send-now path: one round trip, not two);
        True when ``owner`` now holds the message. A new key's row is written already held, in one
        statement, and not read back. ``answer`` (a delivery's key and first answer) is kept with it."""
        if replace:
            values, held = self._message_values(channel, payload, dedupe_key), None
        else:
            values = held = self._held_values(channel, payload, dedupe_key, owner, hold)
        return await self._bookkeeping(_enqueue_and_claim, values, held, owner, hold, answer)

    async def stage(
        self, channel: str, payload: dict[str, JSON], dedupe_key: str, owner: str, hold: timedelta
    ) -> tuple[OutboxMessage, Rider]:
        """The message as ``enqueue_and_claim`` would store it for ``owner``, and the rider that
        writes it so in the transaction of a delivery's claim (True when it wrote a new row).
        Nothing is written now."""
        values = self._held_values(channel, payload, dedupe_key, owner, hold)

        async def ride(session: AsyncSession) -> bool:
            return await self._upsert(session, OutboxRow, values, keys=["dedupe_key"], on_conflict="nothing")

        return _held(values), ride

    def _message_values(self, channel: str, payload: dict[str, JSON], dedupe_key: str) -> dict[str, Any]:
        return {
            "id": uuid.uuid4().hex,
            "channel": channel,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "created_at": self.clock.now(),
            "attempts": 0,
        }

    def _held_values(
        self, channel: str, payload: dict[str, JSON], dedupe_key: str, owner: str, hold: timedelta
    ) -> dict[str, Any]:
        values = self._message_values(channel, payload, dedupe_key)
        return values | {"claimed_by": owner, "claimed_until": values["created_at"] + hold}

    async def pending(self, limit: int = 50) -> list[OutboxMessage]:
        """Undelivered messages nobody holds a live claim on, oldest first."""
        return await self._bookkeeping(_pending, self.clock.now(), limit)

    async def claim(self, dedupe_key: str, owner: str, hold: timedelta) -> OutboxMessage | None:
        """Take the key's undelivered message for ``owner`` for ``hold``, unless a live claim (anyone's)
        holds it; returns it as it is now. The conditional UPDATE lets one of racing replicas win."""
        return await self._bookkeeping(_claim, dedupe_key, owner, self.clock.now(), hold)

    async def release(self, dedupe_key: str, owner: str) -> None:
        """Give up ``owner``'s claim (after a failure, or when the message was replaced meanwhile)."""
        await self._bookkeeping(execute, _RELEASE, {"b_key": dedupe_key, "b_owner": owner})

    async def mark_delivered(self, message_id: str, ts: str | None) -> bool:
        """False when ``message_id`` is no longer the key's content (replaced by a newer payload)."""
        return message_id in await self._bookkeeping(_marked, [(message_id, ts)], self.clock.now(), False)

    async def mark_many_delivered(self, marks: Sequence[tuple[str, str | None]]) -> set[str]:
        """``mark_delivered`` for several messages in one transaction (the outbox's group commit);
        returns the ids still current. Slack deliveries older than a day are forgotten meanwhile
        (every FORGET_EVERY): bookkeeping goes with bookkeeping, off every answer's way."""
        now = self.clock.now()
        forget = self._forgotten_at is None or now - self._forgotten_at >= FORGET_EVERY
        current = await self._bookkeeping(_marked, marks, now, forget)
        if forget:
            self._forgotten_at = now
        return current

    async def mark_failed(self, message_id: str, error: str) -> None:
        await self._bookkeeping(execute, _FAILED, {"message_id": message_id, "error": error})

    async def fail_and_release(self, message_id: str, dedupe_key: str, owner: str, error: str) -> None:
        """A failed try in one transaction: its error recorded and ``owner``'s claim given back, so the
        next pass (here or on a replica) may send it at once instead of after the claim expires."""
        await self._write(_fail_and_release, message_id, dedupe_key, owner, error)

    async def claim_post(self, job_key: str, run_id: str, local_date: str) -> bool:
        """True when this call took the post for the date; False when one already had. An INSERT ...
        ON CONFLICT DO NOTHING on the once-a-date key: no ORM flush, no error raised and caught."""
        values = {
            "job_key": job_key,
            "run_id": run_id,
            "local_date": local_date,
            "claimed_at": self.clock.now(),
            "attempts": 0,
        }
        return await self._bookkeeping(upsert, PostClaimRow, values, _POST_ONCE, "nothing")

    async def release_post(self, job_key: str, run_id: str, local_date: str) -> None:
        key = {"job_key": job_key, "run_id": run_id, "local_date": local_date}
        await self._bookkeeping(execute, _RELEASE_POST, key)
