"""The schema as SQLAlchemy 2 typed declarative models (one class per table).

Rows mirror the engine's records (bot/engine/records.py); the mapping lives in the
repository modules. Every datetime column is UtcDateTime: aware UTC on every backend.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.store.columns import UtcDateTime, json_type

# Explicit names so migrations are stable and identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)
SHORT = String(64)
NAME = String(200)
AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), date: Date(), dict[str, Any]: json_type()}


# --- runs and their steps --------------------------------------------------------------------


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


# --- gates -----------------------------------------------------------------------------------


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


# --- executions ------------------------------------------------------------------------------


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


# --- alerts, incidents -----------------------------------------------------------------------


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


# --- delivery and scheduling -----------------------------------------------------------------


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


# --- audit -----------------------------------------------------------------------------------


class AuditRow(Base):
    """Append-only: the repository has no update or delete for it. ``seq`` gives the order."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_run", "run_id", "seq"),)

    seq: Mapped[int] = mapped_column(AUTO_ID, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(ID, unique=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[str] = mapped_column(NAME)
    actor_name: Mapped[str] = mapped_column(NAME)
    run_id: Mapped[str | None] = mapped_column(ID)
    step_id: Mapped[str | None] = mapped_column(SHORT)
    what: Mapped[str] = mapped_column(Text)
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(SHORT)
    detail: Mapped[str | None] = mapped_column(Text)
