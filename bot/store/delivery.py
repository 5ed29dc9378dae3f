"""The outbox (OutboxStore), scheduled-post claims (ClaimStore) and settings (KeyValueStore)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.engine.deliveries import Rider
from bot.engine.ports import JSON
from bot.safe_text import clean, clean_json
from bot.slack.delivery.ports import OutboxMessage
from bot.store import deliveries
from bot.store.base import StoreBase
from bot.store.tables import OutboxRow, PostClaimRow, SettingRow


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
_VALUE = select(SettingRow.value).where(SettingRow.key == bindparam("key"))
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


class DeliveryStore(StoreBase):
    _forgotten_at: datetime | None = None  # when mark_many_delivered last forgot old delivery rows

    async def enqueue(
        self, channel: str, payload: dict[str, JSON], dedupe_key: str, *, replace: bool = False
    ) -> OutboxMessage:
        """Store once per ``dedupe_key``. With ``replace`` the key's row takes the new payload and is
        pending again under a new id, so a deliverer still sending the old id cannot mark it delivered."""
        async with self._transaction(effect=False) as session:
            await self._store_message(session, channel, payload, dedupe_key, replace)
            return await self._message_of(session, dedupe_key)

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
        async with self._statements(effect=False) as session:
            if answer is not None:
                await deliveries.keep_answer(session, *answer)
            if not replace:
                values = self._held_values(channel, payload, dedupe_key, owner, hold)
                if await self._upsert(session, OutboxRow, values, keys=["dedupe_key"], on_conflict="nothing"):
                    return _held(values), True
                # The key's row was there already: it is what the claim finds, and read back.
                claimed = await self._claim_in(session, dedupe_key, owner, hold)
                return await self._message_of(session, dedupe_key), claimed
            # Replaced: every column the message has is the new values', so nothing is read back.
            values = await self._store_message(session, channel, payload, dedupe_key, replace)
            claimed = await self._claim_in(session, dedupe_key, owner, hold)
            return _held(values), claimed

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

    def _held_values(
        self, channel: str, payload: dict[str, JSON], dedupe_key: str, owner: str, hold: timedelta
    ) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "id": uuid.uuid4().hex,
            "channel": channel,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "created_at": now,
            "attempts": 0,
            "claimed_by": owner,
            "claimed_until": now + hold,
        }

    async def _store_message(
        self,
        session: AsyncSession | AsyncConnection,
        channel: str,
        payload: dict[str, JSON],
        dedupe_key: str,
        replace: bool,
    ) -> dict[str, Any]:
        """The key's message stored (with ``replace``, its row rewritten to ``values``); returns the values."""
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "channel": channel,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "created_at": self.clock.now(),
            "attempts": 0,
        }
        if replace:
            values |= {"delivered_at": None, "delivered_ts": None, "last_error": None}
        on_conflict: Literal["update", "nothing"] = "update" if replace else "nothing"
        await self._upsert(session, OutboxRow, values, keys=["dedupe_key"], on_conflict=on_conflict)
        return values

    async def _message_of(self, session: AsyncSession | AsyncConnection, dedupe_key: str) -> OutboxMessage:
        row = (await session.execute(_BY_KEY, {"dedupe_key": dedupe_key})).one()
        return _message(row)

    async def pending(self, limit: int = 50) -> list[OutboxMessage]:
        """Undelivered messages nobody holds a live claim on, oldest first."""
        async with self._transaction(effect=False) as session:
            query = (
                select(OutboxRow)
                .where(OutboxRow.delivered_at.is_(None), self._unclaimed())
                .order_by(OutboxRow.created_at, OutboxRow.id)
                .limit(limit)
            )
            return [_message(row) for row in await session.scalars(query)]

    async def claim(self, dedupe_key: str, owner: str, hold: timedelta) -> OutboxMessage | None:
        """Take the key's undelivered message for ``owner`` for ``hold``, unless a live claim (anyone's)
        holds it; returns it as it is now. The conditional UPDATE lets one of racing replicas win."""
        async with self._statements(effect=False) as session:
            if not await self._claim_in(session, dedupe_key, owner, hold):
                return None
            return await self._message_of(session, dedupe_key)

    async def _claim_in(
        self, session: AsyncSession | AsyncConnection, dedupe_key: str, owner: str, hold: timedelta
    ) -> bool:
        now = self.clock.now()
        params = {"key": dedupe_key, "now": now, "owner": owner, "until": now + hold}
        claimed = await session.execute(_CLAIM, params)
        return claimed.first() is not None

    async def release(self, dedupe_key: str, owner: str) -> None:
        """Give up ``owner``'s claim (after a failure, or when the message was replaced meanwhile)."""
        async with self._transaction(effect=False) as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.dedupe_key == dedupe_key, OutboxRow.claimed_by == owner)
                .values(claimed_by=None, claimed_until=None)
            )

    async def mark_delivered(self, message_id: str, ts: str | None) -> bool:
        """False when ``message_id`` is no longer the key's content (replaced by a newer payload)."""
        async with self._transaction(effect=False) as session:
            marked = await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == message_id)
                .values(
                    delivered_at=self.clock.now(),
                    delivered_ts=ts,
                    attempts=OutboxRow.attempts + 1,
                    claimed_by=None,
                    claimed_until=None,
                )
                .returning(OutboxRow.id)
            )
            return marked.first() is not None

    async def mark_many_delivered(self, marks: Sequence[tuple[str, str | None]]) -> set[str]:
        """``mark_delivered`` for several messages in one transaction (the outbox's group commit);
        returns the ids still current. Slack deliveries older than a day are forgotten meanwhile
        (every FORGET_EVERY): bookkeeping goes with bookkeeping, off every answer's way."""
        now = self.clock.now()
        forget = self._forgotten_at is None or now - self._forgotten_at >= FORGET_EVERY
        async with self._statements(effect=False) as session:
            if len(marks) == 1:
                ((message_id, ts),) = marks
                marked = await session.execute(_MARK_ONE, {"message_id": message_id, "at": now, "ts": ts})
                current = {message_id} if marked.first() is not None else set()
            else:
                found = await session.scalars(_CURRENT_IDS, {"ids": [message_id for message_id, _ in marks]})
                current = set(found.all())
                params = [{"message_id": i, "at": now, "ts": ts} for i, ts in marks if i in current]
                if params:
                    await session.execute(_MARK, params)
            if forget:
                await deliveries.forget_old(session, now)
        if forget:
            self._forgotten_at = now
        return current

    async def mark_failed(self, message_id: str, error: str) -> None:
        async with self._transaction(effect=False) as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == message_id)
                .values(last_error=error, attempts=OutboxRow.attempts + 1)
            )

    async def fail_and_release(self, message_id: str, dedupe_key: str, owner: str, error: str) -> None:
        """A failed try in one transaction: its error recorded and ``owner``'s claim given back, so the
        next pass (here or on a replica) may send it at once instead of after the claim expires."""
        async with self._transaction() as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == message_id)
                .values(last_error=error, attempts=OutboxRow.attempts + 1)
            )
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.dedupe_key == dedupe_key, OutboxRow.claimed_by == owner)
                .values(claimed_by=None, claimed_until=None)
            )

    def _unclaimed(self) -> ColumnElement[bool]:
        return or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until <= self.clock.now())

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
        async with self._transaction(effect=False) as session:
            return await self._upsert(session, PostClaimRow, values, _POST_ONCE, on_conflict="nothing")

    async def release_post(self, job_key: str, run_id: str, local_date: str) -> None:
        async with self._transaction(effect=False) as session:
            await session.execute(
                delete(PostClaimRow).where(
                    PostClaimRow.job_key == job_key,
                    PostClaimRow.run_id == run_id,
                    PostClaimRow.local_date == local_date,
                )
            )

    async def get_value(self, key: str) -> JSON | None:
        async with self._reading() as connection:
            value: JSON | None = await connection.scalar(_VALUE, {"key": key})
            return value

    async def put_value(self, key: str, value: JSON) -> None:
        async with self._transaction() as session:
            await self._upsert(
                session,
                SettingRow,
                {"key": key, "value": value, "updated_at": self.clock.now()},
                keys=["key"],
            )

    async def append_value(self, key: str, item: JSON) -> list[JSON]:
        """Append ``item`` to the list stored under ``key`` (a missing or non-list value starts a new
        list) in one transaction, with the row locked, so two appends at once both land (a read
        and a ``put_value`` would lose one). Returns the list as stored."""
        async with self._transaction() as session:
            await self._upsert(
                session, SettingRow, {"key": key, "value": [], "updated_at": self.clock.now()}, ["key"], "nothing"
            )
            row = (await session.scalars(select(SettingRow).where(SettingRow.key == key).with_for_update())).one()
            items = [*row.value, item] if isinstance(row.value, list) else [item]
            await session.execute(
                update(SettingRow).where(SettingRow.key == key).values(value=items, updated_at=self.clock.now())
            )
            return items

    async def delete_value(self, key: str) -> None:
        async with self._transaction() as session:
            await session.execute(delete(SettingRow).where(SettingRow.key == key))
