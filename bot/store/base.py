"""What every repository module shares: the engine, one-transaction sessions and upserts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.engine.clock import SystemClock
from bot.engine.ports import Clock
from bot.store.tables import Base


class StoreBase:
    """Each public store method opens one short transaction and commits it before returning."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            yield session

    async def _upsert(
        self,
        session: AsyncSession,
        model: type[Base],
        values: dict[str, Any],
        keys: Sequence[str],
        on_conflict: Literal["update", "nothing"] = "update",
    ) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE (or DO NOTHING), in the dialect's own syntax."""
        table = model.__table__
        assert isinstance(table, Table)
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(table).values(**values)
        updates = {name: statement.excluded[name] for name in values if name not in keys}
        if updates and on_conflict == "update":
            statement = statement.on_conflict_do_update(index_elements=list(keys), set_=updates)
        else:
            statement = statement.on_conflict_do_nothing(index_elements=list(keys))
        await session.execute(statement)
