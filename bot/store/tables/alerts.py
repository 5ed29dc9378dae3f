"""Alerts the watcher opens and incidents people declare."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.tables.base import ID, NAME, SHORT, Base

ACTIVE_ALERT_SQL = text("state IN ('open', 'acknowledged', 'held')")  # engine.triggers.ACTIVE


class AlertRow(Base):
    """An alert; the partial unique index lets a (run, trigger) hold one active alert per ``slot``
    ("breach" for breaches and incidents, "no_data"), and ``version`` guards compare-and-set updates."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_run_state", "run_id", "state"),
        Index(
            "uq_alerts_open_slot",
            "run_id",
            "trigger_id",
            "slot",
            unique=True,
            sqlite_where=ACTIVE_ALERT_SQL,
            postgresql_where=ACTIVE_ALERT_SQL,
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID)
    trigger_id: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(SHORT)
    state: Mapped[str] = mapped_column(SHORT)
    opened_at: Mapped[datetime]
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    step_id: Mapped[str | None] = mapped_column(SHORT)
    environment: Mapped[str | None] = mapped_column(SHORT)
    acknowledged_by: Mapped[str | None] = mapped_column(NAME)
    resolved_at: Mapped[datetime | None]
    clear_since: Mapped[datetime | None]
    auto_rollback_at: Mapped[datetime | None]
    no_data_polls: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    slot: Mapped[str] = mapped_column(SHORT)  # migration 0004
    version: Mapped[int] = mapped_column(Integer, default=1)  # migration 0004


class IncidentRow(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    opened_by: Mapped[str] = mapped_column(NAME)
    opened_by_name: Mapped[str] = mapped_column(NAME)
    at: Mapped[datetime]
    text: Mapped[str] = mapped_column(Text)
    step_id: Mapped[str | None] = mapped_column(SHORT)
    resolved_at: Mapped[datetime | None]
