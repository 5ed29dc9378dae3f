"""Executions (claimed runs of a plan) and their write-ahead target records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.columns import json_type
from bot.store.tables.base import ID, NAME, SHORT, Base


class ExecutionRow(Base):
    """A claimed run of a plan. ``claim_key`` is unique: one execution per claim, however many clicks."""

    __tablename__ = "executions"
    __table_args__ = (Index("ix_executions_lane", "run_id", "step_id", "environment"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    run_id: Mapped[str] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(SHORT)
    environment: Mapped[str] = mapped_column(SHORT)
    kind: Mapped[str] = mapped_column(SHORT)
    state: Mapped[str] = mapped_column(SHORT, index=True)
    requested_by: Mapped[str] = mapped_column(NAME)
    plan_fingerprint: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime]
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    reverts: Mapped[str | None] = mapped_column(ID)
    finished_at: Mapped[datetime | None]
    message: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(NAME)
    claim_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    owner: Mapped[str | None] = mapped_column(NAME)  # the process holding the lease (migration 0003)
    heartbeat_at: Mapped[datetime | None]


class ExecutionTargetRow(Base):
    """Write-ahead snapshot and result of one target of one action (committed before apply)."""

    __tablename__ = "execution_targets"

    execution_id: Mapped[str] = mapped_column(ID, ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True)
    action_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    action_line: Mapped[str] = mapped_column(Text)
    target_label: Mapped[str] = mapped_column(Text)
    snapshot: Mapped[Any] = mapped_column(json_type(), nullable=True)
    status: Mapped[str] = mapped_column(SHORT)
    at: Mapped[datetime]
    changes: Mapped[list[str]] = mapped_column(json_type(), default=list)
    message: Mapped[str | None] = mapped_column(Text)
    mutating: Mapped[bool] = mapped_column(Boolean, default=True)
