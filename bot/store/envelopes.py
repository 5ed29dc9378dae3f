"""Socket Mode envelopes, remembered by every replica at once.

Slack sends an envelope again, same id, when it saw no ack; with several replicas it may arrive
on another replica's socket. Each arrival is recorded under a unique id, so exactly one replica
works it; the others ack again once it is acked, or leave it to the first while it is in flight.
A first taker that died before its ack (its row older than ``stale_before``) is taken over.
Rows are forgotten after ``KEEP``: Slack stops redelivering long before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select, update

from bot.store.base import StoreBase
from bot.store.tables import SocketEnvelopeRow

Arrival = Literal["new", "in_flight", "acked"]
KEEP = timedelta(hours=1)


class EnvelopesStore(StoreBase):
    async def arrive(self, envelope_id: str, owner: str, stale_before: datetime) -> Arrival:
        """Take the envelope for ``owner`` ("new"), or say where its first delivery stands."""
        now = self.clock.now()
        async with self._transaction(effect=False) as session:
            await session.execute(delete(SocketEnvelopeRow).where(SocketEnvelopeRow.arrived_at < now - KEEP))
            values = {"envelope_id": envelope_id, "owner": owner, "arrived_at": now, "acked_at": None}
            if await self._upsert(session, SocketEnvelopeRow, values, keys=["envelope_id"], on_conflict="nothing"):
                return "new"
            acked_at = await session.scalar(
                select(SocketEnvelopeRow.acked_at).where(SocketEnvelopeRow.envelope_id == envelope_id)
            )
            if acked_at is not None:
                return "acked"
            taken = await session.execute(
                update(SocketEnvelopeRow)
                .where(
                    SocketEnvelopeRow.envelope_id == envelope_id,
                    SocketEnvelopeRow.acked_at.is_(None),
                    SocketEnvelopeRow.arrived_at < stale_before,
                )
                .values(owner=owner, arrived_at=now)
                .returning(SocketEnvelopeRow.envelope_id)
            )
            return "new" if taken.first() is not None else "in_flight"

    async def envelope_acked(self, envelope_id: str) -> None:
        async with self._transaction(effect=False) as session:
            await session.execute(
                update(SocketEnvelopeRow)
                .where(SocketEnvelopeRow.envelope_id == envelope_id)
                .values(acked_at=self.clock.now())
            )

    async def envelope_failed(self, envelope_id: str, owner: str) -> None:
        """Not acked: Slack sends it again, and that delivery, on any replica, deserves a real try."""
        async with self._transaction(effect=False) as session:
            await session.execute(
                delete(SocketEnvelopeRow).where(
                    SocketEnvelopeRow.envelope_id == envelope_id,
                    SocketEnvelopeRow.owner == owner,
                    SocketEnvelopeRow.acked_at.is_(None),
                )
            )
