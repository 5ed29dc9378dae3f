"""The append-only audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.tables.base import AUTO_ID, ID, NAME, SHORT, Base


class AuditRow(Base):
    """Append-only: the repository has no update or delete for it. ``seq`` gives the order.

    ``kind`` is an AuditKind's value; ``step_id`` and ``environment`` are separate since migration
    0010 (which split the "day2.1@production" of older rows); ``label`` holds a worded kind's words."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_run", "run_id", "seq"),)

    seq: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[str] = mapped_column(NAME)
    actor_name: Mapped[str] = mapped_column(NAME)
    run_id: Mapped[str | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(SHORT)
    step_id: Mapped[str | None] = mapped_column(SHORT)
    environment: Mapped[str | None] = mapped_column(SHORT)
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(SHORT)
    detail: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)
