"""The outbox (OutboxStore), scheduled-post claims (ClaimStore) and settings (KeyValueStore)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from bot.engine.ports import JSON, OutboxMessage
from bot.store.base import StoreBase
from bot.store.tables import OutboxRow, PostClaimRow, SettingRow


def _message(row: OutboxRow) -> OutboxMessage:
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


class DeliveryStore(StoreBase):
    async def enqueue(self, channel: str, payload: dict[str, JSON], dedupe_key: str) -> OutboxMessage:
        values: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "channel": channel,
            "payload": payload,
            "dedupe_key": dedupe_key,
            "created_at": self.clock.now(),
            "attempts": 0,
        }
        async with self._transaction() as session:
            await self._upsert(session, OutboxRow, values, keys=["dedupe_key"], on_conflict="nothing")
            row = (await session.scalars(select(OutboxRow).where(OutboxRow.dedupe_key == dedupe_key))).one()
            return _message(row)

    async def pending(self, limit: int = 50) -> list[OutboxMessage]:
        async with self._transaction() as session:
            query = (
                select(OutboxRow)
                .where(OutboxRow.delivered_at.is_(None))
                .order_by(OutboxRow.created_at, OutboxRow.id)
                .limit(limit)
            )
            return [_message(row) for row in await session.scalars(query)]

    async def mark_delivered(self, message_id: str, ts: str | None) -> None:
        async with self._transaction() as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == message_id)
                .values(delivered_at=self.clock.now(), delivered_ts=ts, attempts=OutboxRow.attempts + 1)
            )

    async def mark_failed(self, message_id: str, error: str) -> None:
        async with self._transaction() as session:
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == message_id)
                .values(last_error=error, attempts=OutboxRow.attempts + 1)
            )

    async def claim_post(self, job_key: str, run_id: str, local_date: str) -> bool:
        try:
            async with self._transaction() as session:
                session.add(
                    PostClaimRow(job_key=job_key, run_id=run_id, local_date=local_date, claimed_at=self.clock.now())
                )
            return True
        except IntegrityError:
            return False

    async def get_value(self, key: str) -> JSON | None:
        async with self._transaction() as session:
            row = await session.get(SettingRow, key)
            return row.value if row else None

    async def put_value(self, key: str, value: JSON) -> None:
        async with self._transaction() as session:
            await self._upsert(
                session,
                SettingRow,
                {"key": key, "value": value, "updated_at": self.clock.now()},
                keys=["key"],
            )

    async def delete_value(self, key: str) -> None:
        async with self._transaction() as session:
            await session.execute(delete(SettingRow).where(SettingRow.key == key))
