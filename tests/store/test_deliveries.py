"""Issue 13: a Slack delivery is taken in the transaction of its first effect, or not at all.

A second delivery with the same key changes nothing and learns the first answer; a delivery whose
effect never committed (a crash before the commit) left no claim, so the next one does the work;
reads and the outbox's bookkeeping never take a delivery; the caching store keeps no answer of a
rolled-back write; one person keeps one active vote per lane however many votes arrive at once.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.engine.clock import VirtualClock
from bot.engine.records import Approval, Incident
from bot.store import deliveries
from bot.store.db import create_engine_for
from bot.store.deliveries import AlreadyHandled, handling
from bot.store.repository import SoleWriterStore, SqlStore
from bot.store.tables import DeliveryRow
from tests.store.conftest import T0
from tests.store.records import a_lane, a_run, new_id

VOTES = 100


def an_incident(run_id: str, text: str = "the API returns 500s") -> Incident:
    return Incident(new_id(), run_id, "U-sam", "sam", T0, text, None)


async def delivery_rows(store: SqlStore) -> list[DeliveryRow]:
    async with store.engine.connect() as conn:
        return list((await conn.execute(select(DeliveryRow))).all())  # type: ignore[arg-type]


async def test_a_second_delivery_of_one_key_changes_nothing_and_learns_the_first_answer(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    with handling("trigger:T1", "U-sam") as first:
        await store.add_incident(an_incident(run.id))
        assert first is not None and first.owned
        await store.add_incident(an_incident(run.id, "a second effect of the same delivery"))  # owned: no claim
    await store.delivery_answered("trigger:T1", "Incident recorded (alert a1).")

    with handling("trigger:T1", "U-sam"), pytest.raises(AlreadyHandled) as handled:
        await store.add_incident(an_incident(run.id, "the redelivery"))
    assert handled.value.answer == "Incident recorded (alert a1)."
    assert handled.value.at == T0
    texts = sorted(i.text for i in await store.incidents(run.id))
    assert texts == ["a second effect of the same delivery", "the API returns 500s"]
    said = handled.value.again(ZoneInfo("America/Chicago"))
    assert said.startswith("Incident recorded (alert a1).") and "already handled at 09:00 CDT" in said


async def test_an_effect_that_never_committed_leaves_no_claim_and_the_next_delivery_does_the_work(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = await store.create_run(a_run())
    real_claim = deliveries.claim

    async def claim_then_crash(*args: object, **kwargs: object) -> None:
        await real_claim(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("the process died before the commit")

    monkeypatch.setattr(deliveries, "claim", claim_then_crash)
    with handling("trigger:T2", "U-sam") as first, pytest.raises(RuntimeError):
        await store.add_incident(an_incident(run.id))
    assert first is not None and not first.owned
    assert await store.incidents(run.id) == [] and await delivery_rows(store) == []

    monkeypatch.setattr(deliveries, "claim", real_claim)
    with handling("trigger:T2", "U-sam") as again:  # Slack's retry of the same delivery
        await store.add_incident(an_incident(run.id))
    assert again is not None and again.owned
    assert len(await store.incidents(run.id)) == 1
    assert [row.key for row in await delivery_rows(store)] == ["trigger:T2"]


async def test_reads_and_the_outbox_never_take_a_delivery(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    with handling("trigger:T3", "U-sam") as delivery:
        await store.get_run(run.id)
        await store.enqueue(run.channel, {"method": "chat.postEphemeral", "args": {}}, "ephemeral|1")
        assert delivery is not None and not delivery.owned
    assert await delivery_rows(store) == []
    with handling("trigger:T3", "U-sam") as delivery:  # the same key is still free for its first effect
        await store.add_incident(an_incident(run.id))
        assert delivery is not None and delivery.owned


async def test_two_deliveries_of_one_key_racing_to_write_leave_one_effect(store: SqlStore) -> None:
    run = await store.create_run(a_run())

    async def deliver(text: str) -> str:
        with handling("trigger:T4", "U-sam"):
            try:
                await store.add_incident(an_incident(run.id, text))
            except AlreadyHandled:
                return "already handled"
            return "done"

    outcomes = await asyncio.gather(*(deliver(f"delivery {n}") for n in range(8)))
    assert sorted(outcomes) == ["already handled"] * 7 + ["done"]
    assert len(await store.incidents(run.id)) == 1


async def test_rows_older_than_a_day_are_forgotten_when_a_new_answer_is_kept(
    store: SqlStore, clock: VirtualClock
) -> None:
    run = await store.create_run(a_run())
    with handling("trigger:old", "U-sam"):
        await store.add_incident(an_incident(run.id))
    await clock.advance(deliveries.KEEP + timedelta(minutes=1))
    with handling("trigger:new", "U-sam"):
        await store.add_incident(an_incident(run.id))
    assert sorted(row.key for row in await delivery_rows(store)) == ["trigger:new", "trigger:old"]
    await store.delivery_answered("trigger:new", "Incident recorded.")
    assert [(row.key, row.answer) for row in await delivery_rows(store)] == [("trigger:new", "Incident recorded.")]


def a_vote(run_id: str, n: int) -> Approval:
    return Approval(
        id=uuid.uuid4().hex,
        run_id=run_id,
        step_id="day2.1",
        environment="production",
        role="manager",
        user_id="U-maria",
        name="maria",
        decision="approved",
        at=T0 + timedelta(microseconds=n),
        plan_fingerprint="plan-1",
    )


async def test_a_hundred_concurrent_votes_of_one_person_leave_one_active_vote(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    await store.put_lane(a_lane(run), None)
    await asyncio.gather(*(store.cast_vote(a_vote(run.id, n), "superseded by a new approved") for n in range(VOTES)))
    votes = await store.approvals(run.id, "day2.1", "production")
    assert len(votes) == VOTES
    assert len([v for v in votes if v.active]) == 1
    assert {v.withdrawn_reason for v in votes if not v.active} == {"superseded by a new approved"}


async def test_the_database_itself_refuses_a_second_active_vote_of_one_person_on_a_lane(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    first = a_vote(run.id, 1)
    await store.save_approval(first)
    with pytest.raises(IntegrityError):
        await store.save_approval(a_vote(run.id, 2))
    await store.save_approval(replace(a_vote(run.id, 3), withdrawn_at=T0, withdrawn_reason="withdrawn"))
    assert len(await store.approvals(run.id, "day2.1", "production")) == 2


async def test_the_caching_store_forgets_nothing_a_redelivery_rolled_back(
    database_url: str, clock: VirtualClock
) -> None:
    store = SoleWriterStore(create_engine_for(database_url), clock)
    try:
        run = await store.create_run(a_run())
        await store.put_lane(a_lane(run), None)
        first = a_vote(run.id, 1)
        with handling("trigger:T5", "U-maria"):
            await store.cast_vote(first, "superseded")
            await store.put_value("cost.bills", [1])
        assert len(await store.approvals(run.id, "day2.1", "production")) == 1  # cached from here on
        with handling("trigger:T5", "U-maria"):
            with pytest.raises(AlreadyHandled):
                await store.cast_vote(a_vote(run.id, 2), "superseded")
            with pytest.raises(AlreadyHandled):
                await store.put_value("cost.bills", [1, 2])
        assert [(v.id, v.active) for v in await store.approvals(run.id, "day2.1", "production")] == [(first.id, True)]
        assert await store.get_value("cost.bills") == [1]
    finally:
        await store.close()
