"""Outbox dedupe, once-only scheduled posts across stores, and key-value settings."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.engine.clock import VirtualClock
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.store.conftest import T0


async def test_enqueueing_the_same_dedupe_key_twice_stores_one_message(store: SqlStore) -> None:
    first = await store.enqueue("C-rollout", {"text": "Day 2 report"}, dedupe_key="report:2026-04-21")
    second = await store.enqueue("C-rollout", {"text": "different"}, dedupe_key="report:2026-04-21")
    assert second == first
    assert first.payload == {"text": "Day 2 report"}
    assert await store.pending() == [first]


async def test_concurrent_enqueues_of_one_key_all_get_the_same_message(store: SqlStore) -> None:
    results = await asyncio.gather(*(store.enqueue("C", {"n": n}, dedupe_key="alert:42") for n in range(20)))
    assert len({message.id for message in results}) == 1
    assert len(await store.pending()) == 1


async def test_delivered_messages_leave_pending_and_failures_are_counted(store: SqlStore, clock: VirtualClock) -> None:
    old = await store.enqueue("C", {"text": "first"}, dedupe_key="a")
    await clock.advance(timedelta(seconds=5))
    new = await store.enqueue("C", {"text": "second", "blocks": [{"type": "section"}]}, dedupe_key="b")
    assert [message.id for message in await store.pending()] == [old.id, new.id]
    assert [message.id for message in await store.pending(limit=1)] == [old.id]

    await store.mark_failed(old.id, "ratelimited: retry after 1s")
    await clock.advance(timedelta(seconds=1))
    await store.mark_delivered(old.id, ts="1713621600.000100")

    (remaining,) = await store.pending()
    assert remaining == new
    delivered = await store.enqueue("C", {}, dedupe_key="a")
    assert delivered.attempts == 2
    assert delivered.last_error == "ratelimited: retry after 1s"
    assert delivered.delivered_ts == "1713621600.000100"
    assert delivered.delivered_at == T0 + timedelta(seconds=6)


async def test_two_stores_on_one_database_claim_a_scheduled_post_once(store: SqlStore, database_url: str) -> None:
    replica = SqlStore(create_engine_for(database_url), store.clock)
    try:
        results = await asyncio.gather(
            *(s.claim_post("daily_report", "run-1", "2026-04-21") for s in [store, replica] * 5)
        )
        assert results.count(True) == 1
        assert await replica.claim_post("daily_report", "run-1", "2026-04-22")
        assert await store.claim_post("standup:emea", "run-1", "2026-04-21")
        assert await store.claim_post("daily_report", "run-2", "2026-04-21")
        assert not await store.claim_post("daily_report", "run-1", "2026-04-22")
    finally:
        await replica.close()


async def test_settings_store_json_values_and_forget_deleted_keys(store: SqlStore) -> None:
    rules = {"rules": [{"from": "22:00", "to": "06:00", "min": 1}], "enabled": True}
    assert await store.get_value("scaling_rules") is None
    await store.put_value("scaling_rules", rules)
    assert await store.get_value("scaling_rules") == rules
    await store.put_value("scaling_rules", [1, 2.5, "x", None])
    assert await store.get_value("scaling_rules") == [1, 2.5, "x", None]
    await store.delete_value("scaling_rules")
    await store.delete_value("scaling_rules")
    assert await store.get_value("scaling_rules") is None


async def test_concurrent_appends_from_two_stores_all_land(store: SqlStore, database_url: str) -> None:
    other = SqlStore(create_engine_for(database_url), store.clock)
    try:
        await asyncio.gather(*((store if n % 2 else other).append_value("bills", {"n": n}) for n in range(20)))
        stored = await store.get_value("bills")
        assert isinstance(stored, list) and sorted(item["n"] for item in stored) == list(range(20))  # type: ignore[index]
        await store.put_value("odd", "not a list")
        assert await store.append_value("odd", 1) == [1]
    finally:
        await other.close()
