"""Gate records get a version: every save is a compare-and-set on it, so a decision, a health
re-check and sign-offs made at the same time no longer overwrite one another.

Records stored before this revision start at version 1 (0 means "never stored" to the engine).
Plain ALTER TABLE, not batch mode: on SQLite a batch copy drops gate_records, and with foreign
keys on that drop would cascade to gate_signoffs and delete every sign-off.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("gate_records", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    op.drop_column("gate_records", "version")
