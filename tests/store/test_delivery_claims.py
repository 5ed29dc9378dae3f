"""Outbox claims: several deliverers (replicas) on one database send each message once, a crashed
deliverer's claim is taken over when it expires, and a card update replaced in flight goes again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.engine.clock import VirtualClock
from bot.slack.delivery.outbox import CLAIM, Outbox
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore


class GatedSlack(AsyncWebClient):
    """Answers every call itself once ``gate`` is open, so a test can hold a send in flight
    (as a Retry-After sleep or a slow Slack would); records each call as it arrives."""

    def __init__(self) -> None:
        super().__init__(token="xoxb-test")
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.arrived = asyncio.Event()

    async def api_call(self, api_method: str, *, json: dict[str, Any] | None = None, **_: Any) -> AsyncSlackResponse:
        self.calls.append((api_method, dict(json or {})))
        self.arrived.set()
        await self.gate.wait()
        await asyncio.sleep(0)  # let the other deliverer run between arrival and answer
        ts = f"1761580800.{len(self.calls):06d}"
        return AsyncSlackResponse(
            client=self,
            http_verb="POST",
            api_url=api_method,
            req_args={},
            data={"ok": True, "ts": ts},
            headers={},
            status_code=200,
        )

    def texts(self) -> list[str]:
        return [str(args.get("text")) for _, args in self.calls]


@pytest.fixture
async def replica(store: SqlStore, database_url: str) -> AsyncIterator[SqlStore]:
    """A second process's store: its own engine and pool, the same database and clock."""
    other = SqlStore(create_engine_for(database_url), store.clock)
    try:
        yield other
    finally:
        await other.close()


def post(text: str) -> dict[str, Any]:
    return {"method": "chat.postMessage", "args": {"channel": "C", "text": text}}


async def test_of_two_stores_racing_for_one_message_one_claims_it(store: SqlStore, replica: SqlStore) -> None:
    await store.enqueue("C", post("Day 2 report"), dedupe_key="report:2")
    results = await asyncio.gather(
        *(s.claim("report:2", name, CLAIM) for s, name in [(store, "a"), (replica, "b")] * 5)
    )
    assert len([r for r in results if r is not None]) == 1
    assert await store.pending() == [] and await replica.pending() == []


async def test_a_crashed_deliverers_claim_is_taken_over_once_it_expires(
    store: SqlStore, replica: SqlStore, clock: VirtualClock
) -> None:
    await store.enqueue("C", post("Standup"), dedupe_key="standup:1")
    assert await store.claim("standup:1", "crashed", CLAIM) is not None  # and never released
    await clock.advance(CLAIM - timedelta(seconds=1))
    assert await replica.claim("standup:1", "b", CLAIM) is None
    await clock.advance(timedelta(seconds=1))
    taken = await replica.claim("standup:1", "b", CLAIM)
    assert taken is not None and taken.payload == post("Standup")
    assert await store.claim("standup:1", "crashed", CLAIM) is None


async def test_a_replaced_message_cannot_be_marked_delivered_by_its_old_id(store: SqlStore) -> None:
    old = await store.enqueue("C", post("1 of 4 ticked"), dedupe_key="update|C|1.1", replace=True)
    assert await store.claim(old.dedupe_key, "a", CLAIM) is not None
    new = await store.enqueue("C", post("2 of 4 ticked"), dedupe_key="update|C|1.1", replace=True)
    assert new.id != old.id

    assert not await store.mark_delivered(old.id, "1.1")
    await store.release(old.dedupe_key, "a")
    [waiting] = await store.pending()
    assert waiting.id == new.id and waiting.payload == post("2 of 4 ticked")
    assert await store.mark_delivered(new.id, "1.1")
    assert await store.pending() == []
    again = await store.enqueue("C", post("3 of 4 ticked"), dedupe_key="update|C|1.1", replace=True)
    assert again.delivered_at is None and [m.id for m in await store.pending()] == [again.id]


async def test_two_deliverers_racing_over_the_outbox_send_each_message_exactly_once(
    store: SqlStore, replica: SqlStore, clock: VirtualClock
) -> None:
    slack = GatedSlack()
    outboxes = [Outbox(store, slack, clock, owner="a"), Outbox(replica, slack, clock, owner="b")]
    for n in range(12):
        await store.enqueue("C", post(f"message {n}"), dedupe_key=f"post|{n}")

    sent = await asyncio.gather(*(outbox.deliver_pending() for outbox in outboxes * 2))

    assert sum(sent) == 12
    assert Counter(slack.texts()) == {f"message {n}": 1 for n in range(12)}
    assert await store.pending() == []


async def test_a_message_held_in_flight_by_one_replica_is_not_sent_by_the_others_pass(
    store: SqlStore, replica: SqlStore, clock: VirtualClock
) -> None:
    slack = GatedSlack()
    slow, other = Outbox(store, slack, clock, owner="a"), Outbox(replica, slack, clock, owner="b")
    slack.gate.clear()
    sending = asyncio.create_task(slow.send("chat.postMessage", {"channel": "C", "text": "Day 3 report"}, "r3"))
    await slack.arrived.wait()

    assert await other.deliver_pending() == 0
    slack.gate.set()
    delivered = await sending
    assert delivered.delivered_ts is not None
    assert await other.deliver_pending() == 0
    assert slack.texts() == ["Day 3 report"]


async def test_a_deliverer_that_crashed_mid_send_is_taken_over_after_its_claim_expires(
    store: SqlStore, replica: SqlStore, clock: VirtualClock
) -> None:
    slack = GatedSlack()
    crashing, survivor = Outbox(store, slack, clock, owner="a"), Outbox(replica, slack, clock, owner="b")
    slack.gate.clear()
    sending = asyncio.create_task(crashing.send("chat.postMessage", {"channel": "C", "text": "Alert"}, "alert:1"))
    await slack.arrived.wait()
    sending.cancel()  # the process died with the message claimed
    await asyncio.gather(sending, return_exceptions=True)
    slack.gate.set()

    assert await survivor.deliver_pending() == 0
    await clock.advance(CLAIM)
    assert await survivor.deliver_pending() == 1
    assert await survivor.deliver_pending() == 0
    assert slack.texts() == ["Alert", "Alert"]  # the crashed try never got an answer; one delivery


async def test_a_card_update_replaced_while_in_flight_is_sent_again_with_the_newest_content(
    store: SqlStore, replica: SqlStore, clock: VirtualClock
) -> None:
    slack = GatedSlack()
    first, second = Outbox(store, slack, clock, owner="a"), Outbox(replica, slack, clock, owner="b")
    slack.gate.clear()
    key = "update|C|1.1"
    older = asyncio.create_task(
        first.send("chat.update", {"channel": "C", "ts": "1.1", "text": "old"}, key, replace=True)
    )
    await slack.arrived.wait()
    newer = await second.send("chat.update", {"channel": "C", "ts": "1.1", "text": "new"}, key, replace=True)
    assert newer.delivered_at is None  # the first deliverer holds the card; it sends the newest next
    slack.gate.set()
    done = await older

    assert slack.texts() == ["old", "new"]
    assert done.payload["args"] == {"channel": "C", "ts": "1.1", "text": "new"} and done.delivered_at is not None
    assert await store.pending() == []


async def test_enqueue_and_claim_stores_once_and_claims_only_what_is_free(
    store: SqlStore, replica: SqlStore, clock: VirtualClock
) -> None:
    message, claimed = await store.enqueue_and_claim("C", {"text": "card"}, "card:1", "us", CLAIM)
    assert claimed and message.payload == {"text": "card"}
    again, claimed_again = await replica.enqueue_and_claim("C", {"text": "other"}, "card:1", "them", CLAIM)
    assert (again.id, claimed_again) == (message.id, False)  # stored once; our claim is live
    newer, claimed_newer = await replica.enqueue_and_claim(
        "C", {"text": "newer"}, "card:1", "them", CLAIM, replace=True
    )
    assert not claimed_newer and newer.payload == {"text": "newer"} and newer.id != message.id
    await clock.advance(CLAIM)  # our claim expired (we crashed): the replica takes the message over
    taken, claimed_taken = await replica.enqueue_and_claim("C", {"text": "x"}, "card:1", "them", CLAIM)
    assert claimed_taken and taken.payload == {"text": "newer"}
    assert await store.mark_delivered(taken.id, "1.1")
    done, claimed_done = await store.enqueue_and_claim("C", {"text": "x"}, "card:1", "us", CLAIM)
    assert not claimed_done and done.delivered_ts == "1.1"


async def test_racing_sends_of_one_key_claim_it_once(store: SqlStore, replica: SqlStore) -> None:
    results = await asyncio.gather(
        *(
            (store if n % 2 else replica).enqueue_and_claim("C", {"n": n}, "alert:7", f"owner-{n}", CLAIM)
            for n in range(10)
        )
    )
    assert len({message.id for message, _ in results}) == 1
    assert sum(claimed for _, claimed in results) == 1
