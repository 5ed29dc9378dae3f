"""Step lanes remember who asked to run them, so four eyes can refuse that person's approval.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("step_lanes") as batch:
        batch.add_column(sa.Column("requested_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("step_lanes") as batch:
        batch.drop_column("requested_by")
