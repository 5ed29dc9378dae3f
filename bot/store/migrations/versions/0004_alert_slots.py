"""Alerts get a slot and a version: one active alert per (run, trigger, slot), enforced by a partial
unique index, so two replicas watching one database open one alert; updates compare-and-set the version.

Active duplicates left by earlier bots are resolved first (the oldest of each slot stays open), else
the unique index could not be built.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "state IN ('open', 'acknowledged', 'held')"
OLDER_ACTIVE = "older.state IN ('open', 'acknowledged', 'held')"


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("slot", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=True))
    op.execute("UPDATE alerts SET slot = CASE WHEN kind = 'no_data' THEN 'no_data' ELSE 'breach' END, version = 1")
    op.execute(
        "UPDATE alerts SET state = 'resolved', resolved_at = COALESCE(resolved_at, opened_at) "
        f"WHERE {ACTIVE} AND EXISTS (SELECT 1 FROM alerts AS older "
        "WHERE older.run_id = alerts.run_id AND older.trigger_id = alerts.trigger_id "
        f"AND older.slot = alerts.slot AND {OLDER_ACTIVE} "
        "AND (older.opened_at < alerts.opened_at OR (older.opened_at = alerts.opened_at AND older.id < alerts.id)))"
    )
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("slot", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("version", existing_type=sa.Integer(), nullable=False)
    op.create_index(
        "uq_alerts_open_slot",
        "alerts",
        ["run_id", "trigger_id", "slot"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_alerts_open_slot", table_name="alerts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("version")
        batch.drop_column("slot")
