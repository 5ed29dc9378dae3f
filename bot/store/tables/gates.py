"""Go/No-Go gates: a gate's record in one run and its sign-offs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, ForeignKeyConstraint, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.columns import json_type
from bot.store.tables.base import AUTO_ID, ID, NAME, SHORT, Base


class GateRow(Base):
    """A Go/No-Go in one run: its health results (JSON list) and decision; ticks are checklist_ticks.

    ``version`` is bumped by every save, which is a conditional UPDATE on it (see save_gate)."""

    __tablename__ = "gate_records"

    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    gate_id: Mapped[str] = mapped_column(SHORT, primary_key=True)
    health: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), default=list)
    decision: Mapped[str | None] = mapped_column(SHORT)
    decided_by: Mapped[str | None] = mapped_column(NAME)
    decided_by_name: Mapped[str | None] = mapped_column(NAME)
    decided_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(server_default="1")  # migration 0005


class GateSignOffRow(Base):
    __tablename__ = "gate_signoffs"
    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "gate_id"], ["gate_records.run_id", "gate_records.gate_id"], ondelete="CASCADE"
        ),
        UniqueConstraint("run_id", "gate_id", "role", "user_id", name="uq_gate_signoffs_person"),
    )

    seq: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ID)
    gate_id: Mapped[str] = mapped_column(SHORT)
    role: Mapped[str] = mapped_column(SHORT)
    user_id: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME)
    at: Mapped[datetime]
