"""A report email's claim keeps its retry: the message, the failed attempts, the last error and when
to try next, so a restart (or another replica) picks a failed send up instead of dropping it.

Claims stored before this revision have no message and no next attempt: they are left as they are.
``post_claims`` has no foreign keys, so batch mode (a table copy on SQLite) is safe here.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("post_claims") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("message", sa.Text(), nullable=True))
    op.create_index("ix_post_claims_next_attempt", "post_claims", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_post_claims_next_attempt", table_name="post_claims")
    with op.batch_alter_table("post_claims") as batch:
        batch.drop_column("message")
        batch.drop_column("next_attempt_at")
        batch.drop_column("last_error")
        batch.drop_column("attempts")
