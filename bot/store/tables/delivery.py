"""Delivery and scheduling: post claims, the Slack outbox, Socket Mode envelopes, deliveries, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.columns import json_type
from bot.store.tables.base import AUTO_ID, ID, NAME, SHORT, Base


class PostClaimRow(Base):
    """A scheduled post (report, standup, report email) taken by one process for one local date."""

    __tablename__ = "post_claims"
    __table_args__ = (
        UniqueConstraint("job_key", "run_id", "local_date", name="uq_post_claims_once"),
        Index("ix_post_claims_next_attempt", "next_attempt_at"),
    )

    seq: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    job_key: Mapped[str] = mapped_column(NAME)
    run_id: Mapped[str] = mapped_column(ID)
    local_date: Mapped[str] = mapped_column(String(10))
    claimed_at: Mapped[datetime]
    # A report email's retry (migration 0009; see ReportEmailStore): failed SMTP attempts so far,
    # the last error, when any replica may try next (None: sent or given up), the message itself.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    message: Mapped[str | None] = mapped_column(Text)


class OutboxRow(Base):
    """A queued Slack call. ``claimed_by`` holds it while one deliverer sends it, until ``claimed_until``
    (then a crashed replica's claim is taken over); see DeliveryStore.claim."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "created_at"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    channel: Mapped[str] = mapped_column(NAME)
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None]
    delivered_ts: Mapped[str | None] = mapped_column(SHORT)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(NAME)  # migration 0006
    claimed_until: Mapped[datetime | None]  # migration 0006


class SocketEnvelopeRow(Base):
    """A Socket Mode envelope some replica took (migration 0007): Slack may deliver one again, to
    any replica's socket, when it saw no ack; see EnvelopesStore.arrive."""

    __tablename__ = "socket_envelopes"
    __table_args__ = (Index("ix_socket_envelopes_arrived", "arrived_at"),)

    envelope_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    owner: Mapped[str] = mapped_column(NAME)
    arrived_at: Mapped[datetime]
    acked_at: Mapped[datetime | None]


class DeliveryRow(Base):
    """A Slack delivery (a command, a click, a dialog submission) taken in the transaction of its
    first effect (migration 0008), with the first answer; see bot/store/deliveries.py."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_claimed", "claimed_at"),)

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    owner: Mapped[str] = mapped_column(SHORT)
    user_id: Mapped[str] = mapped_column(NAME)
    claimed_at: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(Text)


class SettingRow(Base):
    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(json_type(), nullable=True)
    updated_at: Mapped[datetime]
