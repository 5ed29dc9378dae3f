"""Exactly once per Slack delivery, and one active vote per person and lane.

``deliveries`` remembers each command, click and dialog submission by its key, taken in the
transaction of its first effect, with the first answer; a partial unique index holds a person to
one active (not withdrawn) approval or rejection per lane. Votes that broke that rule before (a
burst of concurrent clicks) are withdrawn first, keeping each person's newest.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "withdrawn_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_deliveries")),
    )
    op.create_index("ix_deliveries_claimed", "deliveries", ["claimed_at"])
    op.execute(
        "UPDATE approvals SET withdrawn_at = at, withdrawn_reason = 'superseded by a newer vote (migration 0008)' "
        "WHERE withdrawn_at IS NULL AND EXISTS (SELECT 1 FROM approvals AS newer "
        "WHERE newer.run_id = approvals.run_id AND newer.step_id = approvals.step_id "
        "AND newer.environment = approvals.environment AND newer.user_id = approvals.user_id "
        "AND newer.withdrawn_at IS NULL AND (newer.at > approvals.at OR (newer.at = approvals.at AND newer.id > approvals.id)))"
    )
    op.create_index(
        "uq_approvals_active_vote",
        "approvals",
        ["run_id", "step_id", "environment", "user_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_approvals_active_vote", table_name="approvals")
    op.drop_index("ix_deliveries_claimed", table_name="deliveries")
    op.drop_table("deliveries")
