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

from sqlalchemy import Connection, bindparam, delete, select, update

from bot.store.base import StoreBase, execute, upsert
from bot.store.tables import SocketEnvelopeRow

Arrival = Literal["new", "in_flight", "acked"]
KEEP = timedelta(hours=1)

# Built once (issue 14): each Socket Mode request arrives and is acked, two transactions of its own.
_ENVELOPES = SocketEnvelopeRow.__table__.c
_FORGET_BEFORE = delete(SocketEnvelopeRow).where(SocketEnvelopeRow.arrived_at < bindparam("before"))
_ACKED_AT = select(SocketEnvelopeRow.acked_at).where(SocketEnvelopeRow.envelope_id == bindparam("envelope_id"))
_TAKE_STALE = (
    update(SocketEnvelopeRow.__table__)  # type: ignore[arg-type]
    .where(
        _ENVELOPES.envelope_id == bindparam("b_envelope_id"),
        _ENVELOPES.acked_at.is_(None),
        _ENVELOPES.arrived_at < bindparam("b_stale_before"),
    )
    .values(owner=bindparam("v_owner"), arrived_at=bindparam("v_now"))
    .returning(_ENVELOPES.envelope_id)
)
_ACK = (
    update(SocketEnvelopeRow.__table__)  # type: ignore[arg-type]
    .where(_ENVELOPES.envelope_id == bindparam("b_envelope_id"))
    .values(acked_at=bindparam("v_now"))
)
_FORGET_UNACKED = delete(SocketEnvelopeRow).where(
    SocketEnvelopeRow.envelope_id == bindparam("envelope_id"),
    SocketEnvelopeRow.owner == bindparam("owner"),
    SocketEnvelopeRow.acked_at.is_(None),
)


def _arrive(connection: Connection, envelope_id: str, owner: str, stale_before: datetime, now: datetime) -> Arrival:
    connection.execute(_FORGET_BEFORE, {"before": now - KEEP})
    values = {"envelope_id": envelope_id, "owner": owner, "arrived_at": now, "acked_at": None}
    if upsert(connection, SocketEnvelopeRow, values, keys=["envelope_id"], on_conflict="nothing"):
        return "new"
    if connection.scalar(_ACKED_AT, {"envelope_id": envelope_id}) is not None:
        return "acked"
    stale = {"b_envelope_id": envelope_id, "b_stale_before": stale_before, "v_owner": owner, "v_now": now}
    return "new" if connection.execute(_TAKE_STALE, stale).first() is not None else "in_flight"


class EnvelopesStore(StoreBase):
    async def arrive(self, envelope_id: str, owner: str, stale_before: datetime) -> Arrival:
        """Take the envelope for ``owner`` ("new"), or say where its first delivery stands."""
        return await self._bookkeeping(_arrive, envelope_id, owner, stale_before, self.clock.now())

    async def envelope_acked(self, envelope_id: str) -> None:
        await self._bookkeeping(execute, _ACK, {"b_envelope_id": envelope_id, "v_now": self.clock.now()})

    async def envelope_failed(self, envelope_id: str, owner: str) -> None:
        """Not acked: Slack sends it again, and that delivery, on any replica, deserves a real try."""
        await self._bookkeeping(execute, _FORGET_UNACKED, {"envelope_id": envelope_id, "owner": owner})
