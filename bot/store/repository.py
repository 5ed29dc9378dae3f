"""SqlStore: every store protocol the engine and the scheduler use, over one database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.ports import Clock
from bot.store.alerts import AlertsStore
from bot.store.audit import AuditStore
from bot.store.checklists import ChecklistStore
from bot.store.db import DEFAULT_DATABASE_URL, create_engine_for
from bot.store.delivery import DeliveryStore
from bot.store.executions import ExecutionsStore
from bot.store.runs import RunsStore


class SqlStore(RunsStore, ChecklistStore, ExecutionsStore, AuditStore, AlertsStore, DeliveryStore):
    """Implements RolloutStore, AlertStore, ClaimStore, OutboxStore and KeyValueStore.

    Each public method is one short transaction, committed before it returns.
    """

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        super().__init__(engine, clock)

    @classmethod
    def open(cls, url: str = DEFAULT_DATABASE_URL, clock: Clock | None = None) -> SqlStore:
        """A store on its own engine; call ``close`` when done. Run ``ensure_schema`` first."""
        return cls(create_engine_for(url), clock)

    async def close(self) -> None:
        await self.engine.dispose()
