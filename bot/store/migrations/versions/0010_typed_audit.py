"""The audit log is typed: a ``kind`` (an AuditKind's value), the lane's ``environment`` apart from
its ``step_id``, and a ``label`` for the entries whose words are their own; ``what`` goes.

Older rows are converted in place: a ``what`` this revision knows becomes the kind (the values are
the same words); a refusal the chat layer wrote ("/ion start", "the button approve", "the dialog",
"the rollback") becomes ``chat request`` with the words as its label; any other words become
``other`` with the words kept as the label, so nothing is lost and nothing fails. A ``step_id`` of
"step@environment" is split at its first "@" (only when something follows it). Downgrade puts the
words and the joined "step@environment" back.

The kinds are listed here, not imported: a migration must say what it did when it was written.
``audit_log`` has no foreign keys, so batch mode (a table copy on SQLite) is safe here.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KNOWN_KINDS = (
    "start run",
    "finish run",
    "run state",
    "run held",
    "run paused",
    "run active",
    "incident",
    "tick",
    "untick",
    "waive",
    "done",
    "plan",
    "approve",
    "reject",
    "approval withdrawn",
    "request run",
    "confirm run",
    "skip",
    "step state",
    "manual done",
    "manual value refused",
    "rollback preview",
    "rollback",
    "rollback (no-op)",
    "execution stopped",
    "stopped for rollback",
    "lease lost",
    "recovered",
    "gate tick",
    "gate untick",
    "gate health",
    "gate override",
    "gate decide",
    "gate reopen",
    "gate sign-off",
    "gate card",
    "gate health checked",
    "gate check overridden",
    "gate decided",
    "gate reopened",
    "gate signed off",
    "record cost",
    "record quality",
)
CHAT_REQUEST = "chat request"
OTHER = "other"
CHAT_PREFIXES = ("/ion", "the button")  # followed by a space and the command or button's name
CHAT_WHOLE = ("the dialog", "the rollback")

audit_log = sa.table(
    "audit_log",
    sa.column("kind", sa.String),
    sa.column("what", sa.Text),
    sa.column("label", sa.Text),
    sa.column("step_id", sa.String),
    sa.column("environment", sa.String),
)


def _position_of_at() -> str:
    """SQL for where "@" is in ``step_id`` (0 when absent), in this backend's words."""
    function = "instr" if op.get_bind().dialect.name == "sqlite" else "strpos"
    return f"{function}(step_id, '@')"


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("environment", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("label", sa.Text(), nullable=True))
    known = audit_log.c.what.in_(KNOWN_KINDS)
    op.execute(audit_log.update().where(known).values(kind=audit_log.c.what))
    chat = sa.or_(*(audit_log.c.what.like(f"{prefix} %") for prefix in CHAT_PREFIXES), audit_log.c.what.in_(CHAT_WHOLE))
    unknown = audit_log.c.kind.is_(None)
    op.execute(audit_log.update().where(unknown, chat).values(kind=CHAT_REQUEST, label=audit_log.c.what))
    op.execute(audit_log.update().where(unknown).values(kind=OTHER, label=audit_log.c.what))
    at = _position_of_at()
    op.execute(
        f"UPDATE audit_log SET environment = substr(step_id, {at} + 1), step_id = substr(step_id, 1, {at} - 1) "
        f"WHERE {at} > 0 AND {at} < length(step_id)"
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("what")


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("what", sa.Text(), nullable=True))
    op.execute(audit_log.update().values(what=sa.func.coalesce(audit_log.c.label, audit_log.c.kind)))
    op.execute(
        audit_log.update()
        .where(audit_log.c.environment.is_not(None))
        .values(step_id=sa.func.coalesce(audit_log.c.step_id, "") + "@" + audit_log.c.environment)
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("what", existing_type=sa.Text(), nullable=False)
        batch.drop_column("label")
        batch.drop_column("environment")
        batch.drop_column("kind")
