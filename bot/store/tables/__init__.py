"""The schema as SQLAlchemy 2 typed declarative models (one class per table), one module per aggregate.

Rows mirror the engine's records (bot/engine/records.py); the mapping lives in the repository
modules. Importing this package registers every table on ``Base.metadata`` (what ``create_all``,
Alembic's env and the schema comparison read), so it is the one place that lists them all.
"""

from __future__ import annotations

from bot.store.tables.alerts import ACTIVE_ALERT_SQL, AlertRow, IncidentRow
from bot.store.tables.audit import AuditRow
from bot.store.tables.base import AUTO_ID, ID, NAME, NAMING_CONVENTION, SHORT, Base
from bot.store.tables.checklists import ACTIVE_VOTE_SQL, ApprovalRow, ChecklistTickRow, WaiverRow
from bot.store.tables.delivery import DeliveryRow, OutboxRow, PostClaimRow, SettingRow, SocketEnvelopeRow
from bot.store.tables.executions import ExecutionRow, ExecutionTargetRow
from bot.store.tables.gates import GateRow, GateSignOffRow
from bot.store.tables.runs import OPEN_RUN_SQL, RunRow, StepLaneHistoryRow, StepLaneRow

__all__ = [
    "ACTIVE_ALERT_SQL",
    "ACTIVE_VOTE_SQL",
    "AUTO_ID",
    "ID",
    "NAME",
    "NAMING_CONVENTION",
    "OPEN_RUN_SQL",
    "SHORT",
    "AlertRow",
    "ApprovalRow",
    "AuditRow",
    "Base",
    "ChecklistTickRow",
    "DeliveryRow",
    "ExecutionRow",
    "ExecutionTargetRow",
    "GateRow",
    "GateSignOffRow",
    "IncidentRow",
    "OutboxRow",
    "PostClaimRow",
    "RunRow",
    "SettingRow",
    "SocketEnvelopeRow",
    "StepLaneHistoryRow",
    "StepLaneRow",
    "WaiverRow",
]
