"""What every repository module shares: the engine, one-transaction sessions and upserts."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from sqlalchemy import Connection, Executable, Insert, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.util import greenlet_spawn

from bot.engine import units
from bot.engine.clock import SystemClock
from bot.engine.errors import StoreUnavailable
from bot.engine.ports import Clock
from bot.store import closing, deliveries
from bot.store.outage import is_outage, reason
from bot.store.tables import Base, DeliveryRow

P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[Concatenate[Connection, P], T]  # a transaction's statements, run on its connection
Kind = Literal["read", "effect", "bookkeeping"]  # what a transaction's work does (StoreBase._at_once)


class StoreBase:
    """Each public store method opens one short transaction and commits it before returning.

    Inside a Slack delivery (bot/store/deliveries.py) the first transaction that writes also takes
    the delivery's row, before it commits; ``effect=False`` marks the store's own bookkeeping
    (the outbox, Socket Mode envelopes, the delivery rows), which never does.

    Inside ``units.unit_of_work()`` every method instead joins one transaction of the unit (the
    delivery's claim is taken once, at its end, when anything in it wrote), committed or rolled
    back with it.

    A method is written as prebuilt Core statements in one synchronous function, run by ``_read``,
    ``_write`` or ``_bookkeeping`` as one transaction in one greenlet (issue 14); ``_transaction``
    (an ORM session) is left for the few cold paths that still use one.
    """

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock: Clock = clock or SystemClock()
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        deliveries.count_writes(engine)
        # Set by the store's health watch (health.py) while the SQLite file is gone or replaced:
        # the open connections would write on into a deleted file, so every transaction is refused.
        self.refusing: str | None = None

    @asynccontextmanager
    async def _transaction(self, *, effect: bool = True) -> AsyncIterator[AsyncSession]:
        """One transaction (the open unit's, inside one); an unreachable or unwritable database
        raises ``StoreUnavailable``."""
        if self.refusing is not None:
            raise StoreUnavailable(self.refusing)
        unit = units.current_unit()
        if unit is not None:
            async with self._joined(unit) as session:
                yield session
            return
        async with self._own_transaction(effect) as session:
            yield session

    @asynccontextmanager
    async def _statements(self, *, effect: bool = True) -> AsyncIterator[AsyncConnection]:
        """``_transaction`` for a call that only runs statements (no ORM object to add, flush or load):
        a Core connection, without the ORM session that was most of a short transaction's CPU on
        the answer path (issue 14). Inside a delivery its first write takes the delivery's row, as in
        ``_transaction``; inside a unit, the unit's own transaction, as for any call."""
        if self.refusing is not None:
            raise StoreUnavailable(self.refusing)
        if units.current_unit() is not None:
            async with self._transaction(effect=effect) as session:
                yield await session.connection()
            return
        delivery = deliveries.current_delivery() if effect else None
        claimed = False
        async with _outage_said(), closing.begin(self.engine) as connection:
            before = deliveries.writes_on(connection)
            yield connection
            if delivery is not None and not delivery.owned and deliveries.writes_on(connection) != before:
                await deliveries.claim(connection, delivery, self.clock.now(), self._insert_delivery)
                claimed = True
        if claimed:
            assert delivery is not None
            delivery.owned = True

    async def _read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(connection, ...)`` as a transaction that only reads (see ``_at_once``)."""
        return await self._at_once("read", work, *args, **kwargs)

    async def _write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(connection, ...)`` as a transaction with an effect: inside a delivery, its first
        write takes the delivery's row (see ``_at_once``)."""
        return await self._at_once("effect", work, *args, **kwargs)

    async def _bookkeeping(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(connection, ...)`` writing the store's own bookkeeping, which never takes a delivery's row."""
        return await self._at_once("bookkeeping", work, *args, **kwargs)

    async def _at_once(self, kind: Kind, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``_statements`` for statements written as one synchronous ``work``: the transaction's
        begin, statements and commit run in one greenlet, not one each (every await on an async
        connection is a greenlet of its own, half of a short transaction's CPU; issue 14).

        Inside a unit, ``work`` runs in the unit's transaction (also in one greenlet): a write in a
        savepoint of it, as ``_joined`` makes it, so a write whose error its caller handles undoes
        only itself; a read needs none (it changes nothing to undo). When the call may take a
        delivery's row, it runs in ``_statements``'s transaction as before.
        """
        if self.refusing is not None:
            raise StoreUnavailable(self.refusing)
        unit = units.current_unit()
        delivery = deliveries.current_delivery() if kind == "effect" else None
        if unit is None and delivery is not None and not delivery.owned:
            async with self._statements(effect=True) as connection:
                return await connection.run_sync(work, *args, **kwargs)
        try:
            if unit is not None:
                session = (await self._share(unit)).session.sync_session
                joined = _in_unit if kind == "read" else _in_savepoint
                return await greenlet_spawn(functools.partial(joined, session, work, *args, **kwargs))
            return await greenlet_spawn(functools.partial(self._committed, work, *args, **kwargs))
        except StoreUnavailable:
            raise
        except Exception as error:
            if is_outage(error):
                raise _unavailable(error) from error
            raise

    def _committed(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self.engine.sync_engine.begin() as connection:
            return work(connection, *args, **kwargs)

    async def _share(self, unit: units.Unit) -> _UnitShare:
        """This store's transaction in ``unit``, begun by the unit's first call to it."""
        share = unit.joined(self.engine)
        if share is None:
            share = _UnitShare(self)
            await share.begin()
            unit.join(self.engine, share)
        assert isinstance(share, _UnitShare)
        return share

    @asynccontextmanager
    async def _joined(self, unit: units.Unit) -> AsyncIterator[AsyncSession]:
        """The unit's transaction on this engine, begun by its first call; each call is a savepoint of
        it, so a call whose error its caller handles (a taken key) undoes only itself."""
        session = (await self._share(unit)).session
        try:
            # A savepoint: a call that fails (and is handled) leaves the unit usable.
            async with _outage_said(), session.begin_nested():
                yield session
        finally:
            session.expunge_all()  # the next call reads the rows afresh, as its own transaction would

    def _forget_uncommitted(self) -> None:
        """A unit rolled back: what was read or learnt inside it is no longer true (caches override this)."""

    @asynccontextmanager
    async def _own_transaction(self, effect: bool) -> AsyncIterator[AsyncSession]:
        async with _outage_said(), self._delivery_transaction(effect) as session:
            yield session

    @asynccontextmanager
    async def _delivery_transaction(self, effect: bool) -> AsyncIterator[AsyncSession]:
        """Inside a Slack delivery, the first transaction that writes also takes the delivery's row."""
        delivery = deliveries.current_delivery() if effect else None
        if delivery is None or delivery.owned:
            async with closing.session(self._sessions) as session, session.begin():
                yield session
            return
        claimed = False
        async with closing.session(self._sessions) as session, session.begin():
            before = await deliveries.writes_so_far(session)
            yield session
            await session.flush()  # rows added to the session are written at the latest here
            if await deliveries.writes_so_far(session) != before:
                await deliveries.claim(session, delivery, self.clock.now(), self._insert_delivery)
                claimed = True
        if claimed:
            delivery.owned = True

    async def take_delivery(self) -> None:
        """Take the current delivery now: for a request whose only effect is what it shows (a
        confirm dialog), so a redelivery does not show it again. AlreadyHandled if another has it."""
        delivery = deliveries.current_delivery()
        if delivery is None or delivery.owned:
            return
        async with self._transaction(effect=False) as session:
            await deliveries.claim(session, delivery, self.clock.now(), self._insert_delivery)

        async def owned() -> None:
            delivery.owned = True

        await units.after_commit(owned)  # inside a unit, the claim is the delivery's once the unit commits

    async def _insert_delivery(self, session: AsyncSession | AsyncConnection, values: dict[str, Any]) -> bool:
        return await self._upsert(session, DeliveryRow, values, keys=["key"], on_conflict="nothing")

    async def handled_elsewhere(self) -> deliveries.AlreadyHandled | None:
        """Whether another delivery of the current request has taken it (None outside a delivery)."""
        delivery = deliveries.current_delivery()
        if delivery is None or delivery.owned:
            return None
        async with self._transaction(effect=False) as session:
            return await deliveries.taken_by_another(session, delivery)

    async def delivery_answered(self, key: str, answer: str) -> None:
        """Store the first answer of the delivery ``key`` (taken by this process), for its redeliveries;
        rows older than a day go meanwhile."""
        await self._bookkeeping(deliveries.store_answer, key, answer, self.clock.now())

    async def _upsert(
        self,
        session: AsyncSession | AsyncConnection,
        model: type[Base],
        values: dict[str, Any],
        keys: Sequence[str],
        on_conflict: Literal["update", "nothing"] = "update",
    ) -> bool:
        """INSERT ... ON CONFLICT (keys) DO UPDATE (or DO NOTHING), in the dialect's own syntax.

        True when a row was written: with DO NOTHING, False says the key was taken already.
        """
        table = model.__table__
        assert isinstance(table, Table)
        result = await session.execute(
            _upsert_statement(self.engine.dialect.name, table, tuple(values), tuple(keys), on_conflict), values
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


@asynccontextmanager
async def _outage_said() -> AsyncIterator[None]:
    """An unreachable or unwritable database raises ``StoreUnavailable``, whatever the driver said."""
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as error:
        if is_outage(error):
            raise _unavailable(error) from error
        raise


def _in_unit(session: Session, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A read in a unit's transaction: no savepoint, nothing of it to undo."""
    return work(session.connection(), *args, **kwargs)


def _in_savepoint(session: Session, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``work`` in a savepoint of a unit's transaction, as ``StoreBase._joined`` runs a call."""
    try:
        with session.begin_nested():
            return work(session.connection(), *args, **kwargs)
    finally:
        session.expunge_all()  # the next call reads the rows afresh, as its own transaction would


def _unavailable(error: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"the database cannot be reached or written ({reason(error)})")


class _UnitShare:
    """One store's transaction inside a unit of work: the store's usual transaction (the delivery
    claim, the outage errors) held open until the unit ends."""

    def __init__(self, store: StoreBase) -> None:
        self._store = store
        self._stack = AsyncExitStack()
        self.session: AsyncSession

    async def begin(self) -> None:
        self.session = await self._stack.enter_async_context(self._store._own_transaction(effect=True))
        try:
            await self._begin_now()
        except BaseException as error:  # not joined yet: the unit would never end it
            await self.rollback(error)
            raise

    async def _begin_now(self) -> None:
        if self._store.engine.dialect.name != "sqlite":
            return
        connection = await self.session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        if getattr(driver, "isolation_level", None) is not None and not getattr(driver, "in_transaction", True):
            # The driver begins its own transactions (a throwaway store) only before a write, and a
            # savepoint before that would be a transaction of its own: begin the unit's now.
            await connection.exec_driver_sql("BEGIN")

    async def commit(self) -> None:
        try:
            await self._stack.aclose()
        except BaseException:
            self._store._forget_uncommitted()
            raise

    async def rollback(self, error: BaseException) -> None:
        try:
            await self._stack.__aexit__(type(error), error, error.__traceback__)
        finally:
            self._store._forget_uncommitted()


def execute(connection: Connection, statement: Executable, values: dict[str, Any] | list[dict[str, Any]]) -> None:
    """One prebuilt statement as a transaction's work (``StoreBase._write(execute, statement, values)``)."""
    connection.execute(statement, values)


def upsert(
    connection: Connection,
    model: type[Base],
    values: dict[str, Any],
    keys: Sequence[str],
    on_conflict: Literal["update", "nothing"] = "update",
) -> bool:
    """``StoreBase._upsert`` for a transaction's synchronous work (``StoreBase._write``)."""
    table = model.__table__
    assert isinstance(table, Table)
    statement = _upsert_statement(connection.dialect.name, table, tuple(values), tuple(keys), on_conflict)
    return bool(connection.execute(statement, values).rowcount == 1)


@functools.lru_cache(maxsize=256)
def _upsert_statement(
    dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...], on_conflict: str
) -> Insert:
    """Built once per shape: the values come as execution parameters (building the statement and
    its ``excluded`` alias each time cost a millisecond an upsert)."""
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    updates = {name: statement.excluded[name] for name in columns if name not in keys}
    if updates and on_conflict == "update":
        return statement.on_conflict_do_update(index_elements=list(keys), set_=updates)
    return statement.on_conflict_do_nothing(index_elements=list(keys))
