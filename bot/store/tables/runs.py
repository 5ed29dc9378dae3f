"""Runs and their step lanes, with every state a lane went through."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, ForeignKey, ForeignKeyConstraint, Index, Integer, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.tables.base import AUTO_ID, ID, NAME, SHORT, Base

OPEN_RUN_SQL = text("state IN ('active', 'held', 'paused')")  # records.OPEN_RUN_STATES


class RunRow(Base):
    """A run; the partial unique index lets a channel hold at most one open run."""

    __tablename__ = "runs"
    __table_args__ = (
        Index(
            "uq_runs_open_channel",
            "channel",
            unique=True,
            sqlite_where=OPEN_RUN_SQL,
            postgresql_where=OPEN_RUN_SQL,
        ),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    runbook_id: Mapped[str] = mapped_column(NAME)
    channel: Mapped[str] = mapped_column(NAME)
    start_date: Mapped[date]
    state: Mapped[str] = mapped_column(SHORT)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(NAME)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)


class StepLaneRow(Base):
    """One step in one environment of one run; ``version`` guards compare-and-set moves."""

    __tablename__ = "step_lanes"

    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    step_id: Mapped[str] = mapped_column(SHORT, primary_key=True)
    environment: Mapped[str] = mapped_column(SHORT, primary_key=True)
    state: Mapped[str] = mapped_column(SHORT)
    reason: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime | None]
    changed_by: Mapped[str | None] = mapped_column(NAME)
    last_execution_id: Mapped[str | None] = mapped_column(ID)
    requested_by: Mapped[str | None] = mapped_column(NAME)  # four eyes: this person may not approve
    version: Mapped[int] = mapped_column(Integer, default=1)


class StepLaneHistoryRow(Base):
    """Every state a lane went through, in order (the lane row keeps only the latest)."""

    __tablename__ = "step_lane_history"
    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "step_id", "environment"],
            ["step_lanes.run_id", "step_lanes.step_id", "step_lanes.environment"],
            ondelete="CASCADE",
        ),
        Index("ix_step_lane_history_lane", "run_id", "step_id", "environment", "seq"),
    )

    seq: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ID)
    step_id: Mapped[str] = mapped_column(SHORT)
    environment: Mapped[str] = mapped_column(SHORT)
    from_state: Mapped[str | None] = mapped_column(SHORT)
    to_state: Mapped[str] = mapped_column(SHORT)
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime | None]
    by: Mapped[str | None] = mapped_column(NAME)
