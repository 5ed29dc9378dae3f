"""Checklist ticks (unticks kept), waivers, approvals (withdrawal kept) and gate records."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.engine.clock import VirtualClock
from bot.engine.records import (
    Approval,
    ChecklistTick,
    GateRecord,
    HealthResult,
    SignOff,
    Waiver,
)
from bot.store.repository import SqlStore
from tests.store.conftest import T0
from tests.store.records import a_run, new_id


def a_tick(run_id: str, item_id: str, minutes: int, user: str = "U-sre") -> ChecklistTick:
    return ChecklistTick(
        run_id=run_id,
        scope="day2.1",
        item_id=item_id,
        user_id=user,
        name=user.lower(),
        at=T0 + timedelta(minutes=minutes),
    )


async def test_ticks_come_back_in_the_order_they_were_ticked(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    second, first = a_tick(run.id, "backup", 5), a_tick(run.id, "dashboards", 1)
    await store.put_tick(second)
    await store.put_tick(first)
    await store.put_tick(replace(first, scope="gonogo.day3"))
    assert await store.ticks(run.id, "day2.1") == [first, second]


async def test_ticking_a_ticked_box_again_replaces_the_tick(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    await store.put_tick(a_tick(run.id, "backup", 1, user="U-a"))
    again = a_tick(run.id, "backup", 2, user="U-b")
    await store.put_tick(again)
    assert await store.ticks(run.id, "day2.1") == [again]


async def test_an_untick_removes_the_tick_but_keeps_it_in_history(store: SqlStore, clock: VirtualClock) -> None:
    run = await store.create_run(a_run())
    tick = a_tick(run.id, "backup", 1)
    await store.put_tick(tick)
    await clock.advance(timedelta(minutes=7))

    assert await store.remove_tick(run.id, "day2.1", "backup", by="U-lead")
    assert not await store.remove_tick(run.id, "day2.1", "backup")
    assert await store.ticks(run.id, "day2.1") == []
    retick = a_tick(run.id, "backup", 9)
    await store.put_tick(retick)

    assert await store.tick_history(run.id, "day2.1") == [(tick, T0 + timedelta(minutes=7)), (retick, None)]


async def test_waivers_keep_their_reason_and_come_back_by_time(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    later = Waiver(new_id(), run.id, "day2.1", None, "U-lead", "lee", "whole list done offline", T0 + timedelta(1))
    earlier = Waiver(new_id(), run.id, "day2.1", "backup", "U-lead", "lee", "backup verified by DBA", T0)
    await store.add_waiver(later)
    await store.add_waiver(earlier)
    assert await store.waivers(run.id, "day2.1") == [earlier, later]
    assert await store.waivers(run.id, "day3.1") == []


async def test_a_withdrawn_approval_stays_listed_with_when_and_why(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    approval = Approval(
        id=new_id(),
        run_id=run.id,
        step_id="day2.1",
        environment="production",
        role="lead",
        user_id="U-lead",
        name="lee",
        decision="approved",
        at=T0,
        plan_fingerprint="plan-1",
    )
    rejection = replace(
        approval,
        id=new_id(),
        role="sre_oncall",
        user_id="U-sre",
        decision="rejected",
        at=T0 + timedelta(minutes=2),
        reason="error budget is low today",
    )
    await store.save_approval(rejection)
    await store.save_approval(approval)
    withdrawn = replace(
        approval, withdrawn_at=T0 + timedelta(minutes=5), withdrawn_reason="the plan changed: min 2 -> 1"
    )
    await store.save_approval(withdrawn)

    listed = await store.approvals(run.id, "day2.1", "production")
    assert listed == [withdrawn, rejection]
    assert not listed[0].active
    assert await store.approvals(run.id, "day2.1", "staging") == []


async def test_a_gate_record_round_trips_and_every_save_bumps_its_version(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    assert await store.get_gate(run.id, "gonogo.day3") is None
    health = HealthResult(
        label="error rate",
        condition="error_rate_pct < 1",
        passed=None,
        value=None,
        threshold=1.0,
        detail="no data for 10 minutes",
        checked_at=T0,
    )
    record = GateRecord(run_id=run.id, gate_id="gonogo.day3", health=[health])
    assert await store.save_gate(record)
    stored = await store.get_gate(run.id, "gonogo.day3")
    assert stored == replace(record, version=1)

    decided = replace(
        stored,
        health=[replace(health, passed=True, value=0.4, override_by="U-lead", override_reason="dashboard lag")],
        decision="yes",
        decided_by="U-mgr",
        decided_by_name="max",
        decided_at=T0 + timedelta(hours=1),
        reason="all green",
        signoffs=[
            SignOff("manager", "U-mgr", "max", T0 + timedelta(minutes=50)),
            SignOff("lead", "U-lead", "lee", T0 + timedelta(minutes=55)),
        ],
    )
    assert await store.save_gate(decided)
    assert await store.get_gate(run.id, "gonogo.day3") == replace(decided, version=2)

    fewer = replace(decided, signoffs=decided.signoffs[1:], version=2)
    assert await store.save_gate(fewer)
    assert await store.get_gate(run.id, "gonogo.day3") == replace(fewer, version=3)


async def test_a_gate_save_based_on_a_stale_read_changes_nothing(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    fresh = GateRecord(run_id=run.id, gate_id="gonogo.day3")
    assert await store.save_gate(fresh)
    assert not await store.save_gate(replace(fresh, decision="no", reason="inserted twice"))
    read = await store.get_gate(run.id, "gonogo.day3")
    assert read is not None
    signed = replace(read, signoffs=[SignOff("lead", "U-lead", "lee", T0)])
    assert await store.save_gate(signed)

    stale = replace(read, decision="yes", decided_by="U-mgr", decided_by_name="max", decided_at=T0)
    assert not await store.save_gate(stale)

    assert await store.get_gate(run.id, "gonogo.day3") == replace(signed, version=2)
