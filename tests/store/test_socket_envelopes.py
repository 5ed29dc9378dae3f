"""Socket Mode envelopes across replicas: one database says which replica works an envelope, and
where its first delivery stands when Slack sends it again, to the same replica or another."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from bot.engine.clock import VirtualClock
from bot.slack.transport.socket_mode import SharedEnvelopes
from bot.store.db import create_engine_for
from bot.store.envelopes import KEEP
from bot.store.repository import SqlStore

IN_FLIGHT_FOR = timedelta(seconds=30)


def replicas(store: SqlStore, clock: VirtualClock) -> tuple[SharedEnvelopes, SharedEnvelopes]:
    return (
        SharedEnvelopes(store, clock, "replica-a", IN_FLIGHT_FOR),
        SharedEnvelopes(store, clock, "replica-b", IN_FLIGHT_FOR),
    )


async def test_a_redelivery_to_another_replica_waits_while_in_flight_and_is_acked_again_once_acked(
    store: SqlStore, clock: VirtualClock
) -> None:
    a, b = replicas(store, clock)
    assert await a.arrived("env-1") == "new"
    assert await b.arrived("env-1") == "in_flight"  # a's ack will answer it
    assert await a.arrived("env-1") == "in_flight"
    await a.acked("env-1")
    assert await b.arrived("env-1") == "acked"  # ack again, work nothing
    assert await a.arrived("env-2") == "new"


async def test_an_envelope_never_acked_is_worked_by_the_next_delivery_wherever_it_lands(
    store: SqlStore, clock: VirtualClock
) -> None:
    a, b = replicas(store, clock)
    assert await a.arrived("env-1") == "new"
    await a.failed("env-1")  # a's listener raised before its ack: Slack sends it again
    assert await b.arrived("env-1") == "new"
    await a.failed("env-1")  # not a's any more: nothing happens to b's delivery
    assert await a.arrived("env-1") == "in_flight"


async def test_a_replica_that_died_before_its_ack_loses_the_envelope_after_the_in_flight_time(
    store: SqlStore, clock: VirtualClock
) -> None:
    a, b = replicas(store, clock)
    assert await a.arrived("env-1") == "new"
    await clock.advance(IN_FLIGHT_FOR - timedelta(seconds=1))
    assert await b.arrived("env-1") == "in_flight"
    await clock.advance(timedelta(seconds=2))
    assert await b.arrived("env-1") == "new"
    assert await a.arrived("env-1") == "in_flight"  # b has it now


async def test_envelopes_are_forgotten_after_an_hour(store: SqlStore, clock: VirtualClock) -> None:
    a, b = replicas(store, clock)
    assert await a.arrived("env-old") == "new"
    await a.acked("env-old")
    await clock.advance(KEEP + timedelta(seconds=1))
    assert await b.arrived("env-new") == "new"  # any arrival sweeps what is older than KEEP
    assert await b.arrived("env-old") == "new"


async def test_two_replicas_on_two_engines_taking_one_envelope_at_once_give_it_to_one(
    database_url: str, clock: VirtualClock
) -> None:
    stores = [SqlStore(create_engine_for(database_url), clock) for _ in range(2)]
    try:
        takers = [SharedEnvelopes(s, clock, f"replica-{i}", IN_FLIGHT_FOR) for i, s in enumerate(stores)]
        for n in range(10):
            seen = await asyncio.gather(*(t.arrived(f"env-{n}") for t in takers))
            assert Counter(seen) == {"new": 1, "in_flight": 1}, seen
    finally:
        for store in stores:
            await store.close()
