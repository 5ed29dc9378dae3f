"""The contract of the ports only SqlStore implements: alerts, the outbox, post claims and settings,
on SQLite and PostgreSQL (the engine's FakeStore does not implement them)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.engine.ports import AlertRecord
from tests.store.conftest import T0
from tests.store.contract.conftest import Subject
from tests.store.records import new_id

HOLD = timedelta(seconds=30)


def an_alert(trigger_id: str = "error_rate", kind: str = "breach", minutes: int = 0) -> AlertRecord:
    at = T0 + timedelta(minutes=minutes)
    return AlertRecord(new_id(), "run-1", trigger_id, kind, "open", at, f"{trigger_id} {kind}", data={"n": [1, 2]})


async def test_of_concurrent_openings_of_one_alert_slot_exactly_one_inserts(sql_store: Subject) -> None:
    alerts = [an_alert() for _ in range(6)]
    opened = await asyncio.gather(*(sql_store.sql_replica().open_alert(alert) for alert in alerts))
    winners = [stored for stored in opened if stored is not None]
    assert len(winners) == 1 and winners[0].version == 1
    no_data = await sql_store.sql.open_alert(an_alert(kind="no_data"))
    assert no_data is not None  # another slot of the same trigger


async def test_an_alert_update_from_a_stale_read_changes_nothing(sql_store: Subject) -> None:
    store = sql_store.sql
    opened = await store.open_alert(an_alert())
    assert opened is not None
    acked = await store.update_alert(replace(opened, state="acknowledged", acknowledged_by="U-sam"))
    assert acked is not None and acked.version == 2
    assert await store.update_alert(replace(opened, state="resolved")) is None
    assert await store.get_alert(opened.id) == acked
    assert await store.get_alert("no-such-alert") is None


async def test_active_alerts_are_the_unresolved_ones_oldest_first_and_all_alerts_keep_the_rest(
    sql_store: Subject,
) -> None:
    store = sql_store.sql
    later, earlier = an_alert("p95", minutes=5), an_alert("errors", minutes=1)
    resolved = replace(an_alert("cpu", minutes=0), state="resolved", resolved_at=T0)
    for alert in (later, earlier, resolved):
        await store.save_alert(alert)
    assert await store.active_alerts("run-1") == [earlier, later]
    assert await store.alerts("run-1") == [resolved, earlier, later]


async def test_the_outbox_keeps_one_message_per_key_and_a_replacement_is_pending_under_a_new_id(
    sql_store: Subject,
) -> None:
    store = sql_store.sql
    first = await store.enqueue("C1", {"text": "one"}, "card:1")
    assert await store.enqueue("C1", {"text": "two"}, "card:1") == first
    assert await store.mark_delivered(first.id, "111.1")
    assert await store.pending() == []
    replaced = await store.enqueue("C1", {"text": "three"}, "card:1", replace=True)
    assert replaced.id != first.id and replaced.payload == {"text": "three"} and replaced.delivered_at is None
    assert not await store.mark_delivered(first.id, "111.1")  # the old id is not the key's content any more
    assert [m.id for m in await store.pending()] == [replaced.id]


async def test_an_outbox_claim_holds_the_message_until_released_or_expired(sql_store: Subject) -> None:
    store = sql_store.sql
    message = await store.enqueue("C1", {"text": "hi"}, "post:1")
    claims = await asyncio.gather(*(sql_store.sql_replica().claim("post:1", f"r{n}", HOLD) for n in range(5)))
    assert [c is not None for c in claims].count(True) == 1
    owner = f"r{[c is not None for c in claims].index(True)}"
    assert await store.pending() == []
    await store.release("post:1", "someone-else")
    assert await store.claim("post:1", "late", HOLD) is None
    await store.fail_and_release(message.id, "post:1", owner, "rate limited")
    retried = await store.claim("post:1", "late", HOLD)
    assert retried is not None and (retried.attempts, retried.last_error) == (1, "rate limited")
    await sql_store.clock.advance(HOLD)  # the claim of a replica that died expires
    assert [m.id for m in await store.pending()] == [message.id]
    both, held = await store.enqueue_and_claim("C1", {"text": "hi"}, "post:1", "next", HOLD)
    assert held and both.id == message.id


async def test_a_post_is_claimed_once_per_job_run_and_day_until_given_back(sql_store: Subject) -> None:
    claims = await asyncio.gather(
        *(sql_store.sql_replica().claim_post("daily", "run-1", "2026-04-20") for _ in range(5))
    )
    assert claims.count(True) == 1
    assert await sql_store.sql.claim_post("daily", "run-1", "2026-04-21")
    await sql_store.sql.release_post("daily", "run-1", "2026-04-20")
    assert await sql_store.sql.claim_post("daily", "run-1", "2026-04-20")


async def test_a_setting_reads_as_none_until_put_and_after_deleted(sql_store: Subject) -> None:
    store = sql_store.sql
    assert await store.get_value("rules") is None
    await store.put_value("rules", {"min": 2, "at": ["09:00"]})
    await store.put_value("rules", {"min": 3})
    assert await store.get_value("rules") == {"min": 3}
    await store.delete_value("rules")
    await store.delete_value("rules")
    assert await store.get_value("rules") is None
