"""Concurrent gate changes through the engine on SQLite and PostgreSQL: none overwrites another."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.records import GateRecord, SignOff
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.engine.test_gates import GATE, decide_yes_while_health_is_measured, rollout_over, sign_off_twice_at_once
from tests.store.conftest import T0
from tests.store.records import a_run


class BothReadFirst(SqlStore):
    """Holds the first two gate saves until both writers have read the record: a forced race.

    Only on PostgreSQL: on SQLite a sign-off's unit of work holds the one writer lock from its
    first read to its commit, so the two cannot both read first (the second would wait on the
    lock the first holds while the first waits here for the second)."""

    def __init__(self, url: str, clock: VirtualClock) -> None:
        super().__init__(create_engine_for(url), clock)
        self._barrier = asyncio.Barrier(2)
        self.saves = 0
        self.racing = self.engine.dialect.name == "postgresql"

    async def save_gate(self, record: GateRecord) -> bool:
        self.saves += 1
        if self.saves <= 2 and self.racing:
            await self._barrier.wait()
        return await super().save_gate(record)


@pytest.fixture
async def racing_store(database_url: str, clock: VirtualClock) -> AsyncIterator[BothReadFirst]:
    store = BothReadFirst(database_url, clock)
    try:
        yield store
    finally:
        await store.close()


async def test_a_yes_decided_while_health_is_measured_keeps_both(store: SqlStore, clock: VirtualClock) -> None:
    rollout, checker, _ = rollout_over(store, clock)

    view = await decide_yes_while_health_is_measured(rollout, checker, clock)

    assert view.record.decision == "yes" and view.record.decided_by_name == "maria"
    assert [h.checked_at for h in view.record.health] == [clock.now()]
    audit = [e.what for e in await store.audit(view.record.run_id)]
    assert audit.count("gate health checked") == 2 and "gate decided" in audit


async def test_two_sign_offs_racing_keep_both(racing_store: BothReadFirst, clock: VirtualClock) -> None:
    rollout, _, _ = rollout_over(racing_store, clock)

    view = await sign_off_twice_at_once(rollout)

    assert sorted((s.role, s.name) for s in view.record.signoffs) == [("lead", "lee"), ("manager", "maria")]
    if racing_store.racing:
        assert racing_store.saves == 3, "one of the two lost the compare-and-set and tried again"
    else:
        assert racing_store.saves == 2, "the second read the first's sign-off: no lost compare-and-set"


async def test_of_ten_saves_from_one_read_exactly_one_wins(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    assert await store.save_gate(GateRecord(run_id=run.id, gate_id=GATE))
    read = await store.get_gate(run.id, GATE)
    assert read is not None

    def signed(n: int) -> GateRecord:
        return GateRecord(
            run_id=run.id, gate_id=GATE, signoffs=[SignOff("lead", f"U-{n}", f"lead {n}", T0)], version=read.version
        )

    results = await asyncio.gather(*(store.save_gate(signed(n)) for n in range(10)))

    assert results.count(True) == 1
    stored = await store.get_gate(run.id, GATE)
    assert stored is not None and stored.version == read.version + 1
    assert [s.user_id for s in stored.signoffs] == [f"U-{results.index(True)}"]


async def test_of_ten_first_saves_of_a_gate_exactly_one_is_inserted(store: SqlStore) -> None:
    run = await store.create_run(a_run())

    results = await asyncio.gather(
        *(store.save_gate(GateRecord(run_id=run.id, gate_id=GATE, reason=str(n))) for n in range(10))
    )

    assert results.count(True) == 1
    stored = await store.get_gate(run.id, GATE)
    assert stored is not None and stored.version == 1 and stored.reason == str(results.index(True))
