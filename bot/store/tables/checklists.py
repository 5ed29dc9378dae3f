"""Checklist ticks, waivers, and the approvals and rejections of a lane."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.tables.base import AUTO_ID, ID, NAME, SHORT, Base


class ChecklistTickRow(Base):
    """A tick; an untick closes it (``unticked_at``) instead of deleting, so history is kept."""

    __tablename__ = "checklist_ticks"
    __table_args__ = (
        Index(
            "uq_checklist_ticks_live",
            "run_id",
            "scope",
            "item_id",
            unique=True,
            sqlite_where=text("unticked_at IS NULL"),
            postgresql_where=text("unticked_at IS NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(SHORT)
    item_id: Mapped[str] = mapped_column(SHORT)
    user_id: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME)
    at: Mapped[datetime]
    unticked_at: Mapped[datetime | None]
    unticked_by: Mapped[str | None] = mapped_column(NAME)


class WaiverRow(Base):
    __tablename__ = "waivers"
    __table_args__ = (Index("ix_waivers_scope", "run_id", "scope"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(SHORT)
    item_id: Mapped[str | None] = mapped_column(SHORT)
    user_id: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME)
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


ACTIVE_VOTE_SQL = text("withdrawn_at IS NULL")  # records.Approval.active


class ApprovalRow(Base):
    """Approvals and rejections; a withdrawn vote stays, with when and why it was withdrawn.

    The partial unique index (migration 0008) holds a person to one active vote per lane, however
    many clicks arrive at once; see ChecklistStore.cast_vote."""

    __tablename__ = "approvals"
    __table_args__ = (
        Index("ix_approvals_lane", "run_id", "step_id", "environment"),
        Index(
            "uq_approvals_active_vote",
            "run_id",
            "step_id",
            "environment",
            "user_id",
            unique=True,
            sqlite_where=ACTIVE_VOTE_SQL,
            postgresql_where=ACTIVE_VOTE_SQL,
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(SHORT)
    environment: Mapped[str] = mapped_column(SHORT)
    role: Mapped[str] = mapped_column(SHORT)
    user_id: Mapped[str] = mapped_column(NAME)
    name: Mapped[str] = mapped_column(NAME)
    decision: Mapped[str] = mapped_column(SHORT)
    at: Mapped[datetime]
    plan_fingerprint: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
