"""Socket Mode envelopes are remembered in the database, not per process: Slack redelivers an
envelope it saw no ack for to any of the app's sockets, so a second replica must know it too.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "socket_envelopes",
        sa.Column("envelope_id", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("envelope_id", name=op.f("pk_socket_envelopes")),
    )
    op.create_index("ix_socket_envelopes_arrived", "socket_envelopes", ["arrived_at"])


def downgrade() -> None:
    op.drop_index("ix_socket_envelopes_arrived", table_name="socket_envelopes")
    op.drop_table("socket_envelopes")
