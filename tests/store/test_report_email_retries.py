"""A report email's claim keeps its retry: claimed once, failures recorded, a due retry taken by one store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.engine.clock import VirtualClock
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.store.conftest import T0

HOLD = timedelta(minutes=10)


async def test_an_email_is_claimed_once_with_its_message_and_held_by_its_sender(store: SqlStore) -> None:
    claim = await store.claim_email("daily_report:run-1:1", "run-1", "2026-04-20", "Subject: Day 1", T0 + HOLD)
    assert claim is not None and claim.attempts == 0 and claim.message == "Subject: Day 1"
    assert await store.claim_email("daily_report:run-1:1", "run-1", "2026-04-20", "again", T0 + HOLD) is None
    assert await store.due_emails(T0) == []  # held by its sender
    [due] = await store.due_emails(T0 + HOLD)  # the sender vanished: a replica may take it over
    assert due.dedupe_key == "daily_report:run-1:1" and due.message == "Subject: Day 1"


async def test_a_failed_round_is_recorded_and_a_sent_email_is_never_due_again(
    store: SqlStore, clock: VirtualClock
) -> None:
    claim = await store.claim_email("final_report:run-1:10", "run-1", "2026-04-29", "Subject: Final", T0 + HOLD)
    assert claim is not None
    await store.email_failed(claim, 3, "SMTPDataError: busy", T0 + timedelta(minutes=5))
    [due] = await store.due_emails(T0 + timedelta(minutes=5))
    assert (due.attempts, due.last_error, due.next_attempt_at) == (3, "SMTPDataError: busy", T0 + timedelta(minutes=5))
    assert await store.take_email(due, T0 + timedelta(minutes=5), T0 + timedelta(minutes=15))
    await store.email_sent(due)
    assert await store.due_emails(T0 + timedelta(days=1)) == []
    assert not await store.claim_email("final_report:run-1:10", "run-1", "2026-04-29", "again", T0 + HOLD)


async def test_two_stores_on_one_database_take_a_due_retry_once(store: SqlStore, database_url: str) -> None:
    claim = await store.claim_email("daily_report:run-1:2", "run-1", "2026-04-21", "Subject: Day 2", T0 + HOLD)
    assert claim is not None
    await store.email_failed(claim, 3, "refused", T0 + timedelta(minutes=5))
    replica = SqlStore(create_engine_for(database_url), store.clock)
    try:
        now = T0 + timedelta(minutes=6)
        seen = [(s, due) for s in [store, replica] * 4 for due in await s.due_emails(now)]
        assert len(seen) == 8
        taken = await asyncio.gather(*(s.take_email(due, now, now + HOLD) for s, due in seen))
        assert taken.count(True) == 1
        assert await replica.due_emails(now) == []
    finally:
        await replica.close()


async def test_a_retry_given_up_is_never_due_again_and_keeps_its_last_error(store: SqlStore) -> None:
    claim = await store.claim_email("daily_report:run-1:3", "run-1", "2026-04-22", "Subject: Day 3", T0 + HOLD)
    assert claim is not None
    await store.email_failed(claim, 12, "SMTPConnectError: refused", None)
    assert await store.due_emails(T0 + timedelta(days=30)) == []
