"""The store's side of a cheap answer (issue 14): the reply's row written with a delivery's claim,
an answer kept with it, a new outbox key held as it is written, and delivered marks in one commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.engine.clock import VirtualClock
from bot.store import deliveries
from bot.store.repository import SqlStore
from bot.store.tables import DeliveryRow, OutboxRow

HOLD = timedelta(minutes=5)


def reply(text: str) -> dict[str, object]:
    return {"method": "chat.postEphemeral", "args": {"channel": "C", "user": "U1", "text": text}}


async def outbox_rows(store: SqlStore) -> list[OutboxRow]:
    async with store.engine.connect() as connection:
        return list((await connection.execute(select(OutboxRow).order_by(OutboxRow.created_at))).all())  # type: ignore[arg-type]


async def delivery_rows(store: SqlStore) -> list[tuple[str, str | None]]:
    async with store.engine.connect() as connection:
        return [(k, a) for k, a in (await connection.execute(select(DeliveryRow.key, DeliveryRow.answer))).all()]


async def test_a_claim_writes_its_answer_and_its_riders_in_its_own_transaction(store: SqlStore) -> None:
    with deliveries.handling("trigger:1", "U1") as delivery:
        assert delivery is not None
        delivery.answer = "There is no run in this channel."
        message, rider = await store.stage("C", reply("There is no run in this channel."), "ephemeral|1", "me", HOLD)
        delivery.riders.append(rider)
        await store.take_delivery()
    assert delivery.owned and delivery.kept == delivery.answer
    assert await delivery_rows(store) == [("trigger:1", "There is no run in this channel.")]
    [row] = await outbox_rows(store)
    assert (row.id, row.dedupe_key, row.claimed_by, row.delivered_at) == (message.id, "ephemeral|1", "me", None)


async def test_a_redelivery_whose_claim_is_refused_writes_none_of_its_riders(store: SqlStore) -> None:
    with deliveries.handling("trigger:1", "U1"):
        await store.take_delivery()
    with deliveries.handling("trigger:1", "U1") as again:
        assert again is not None
        _, rider = await store.stage("C", reply("again"), "ephemeral|2", "me", HOLD)
        again.riders.append(rider)
        with pytest.raises(deliveries.AlreadyHandled):
            await store.take_delivery()
    assert await outbox_rows(store) == []


async def test_a_new_outbox_key_comes_back_held_as_stored_and_keeps_the_answer_given(store: SqlStore) -> None:
    with deliveries.handling("trigger:1", "U1"):
        await store.take_delivery()
    message, held = await store.enqueue_and_claim(
        "C", reply("Incident recorded."), "ephemeral|1", "me", HOLD, answer=("trigger:1", "Incident recorded.")
    )
    assert held
    [row] = await outbox_rows(store)
    stored = (row.id, row.payload, row.claimed_by, row.created_at)
    assert stored == (message.id, message.payload, "me", message.created_at)
    assert await delivery_rows(store) == [("trigger:1", "Incident recorded.")]
    again, held_again = await store.enqueue_and_claim("C", reply("other"), "ephemeral|1", "you", HOLD)
    assert again.id == message.id and not held_again  # a taken key: the stored message, held by its owner


async def test_marks_in_one_commit_mark_the_current_messages_and_forget_day_old_deliveries(
    store: SqlStore, clock: VirtualClock
) -> None:
    with deliveries.handling("trigger:old", "U1"):
        await store.take_delivery()
    await clock.advance(timedelta(days=1, minutes=1))
    first, _ = await store.enqueue_and_claim("C", reply("one"), "ephemeral|1", "me", HOLD)
    second, _ = await store.enqueue_and_claim("C", reply("two"), "ephemeral|2", "me", HOLD)
    current = await store.mark_many_delivered([(first.id, "1.1"), (second.id, None), ("replaced", "1.3")])
    assert current == {first.id, second.id}
    rows = {row.id: row for row in await outbox_rows(store)}
    assert [(rows[m.id].delivered_ts, rows[m.id].attempts, rows[m.id].claimed_by) for m in (first, second)] == [
        ("1.1", 1, None),
        (None, 1, None),
    ]
    assert all(rows[m.id].delivered_at == clock.now() for m in (first, second))
    assert await delivery_rows(store) == []


async def test_a_message_held_as_written_carries_its_text_as_stored(store: SqlStore) -> None:
    message, _ = await store.enqueue_and_claim("C", reply("a NUL \x00 and a lone \ud800"), "ephemeral|1", "me", HOLD)
    [row] = await outbox_rows(store)
    assert message.payload == row.payload and "\x00" not in str(message.payload)
