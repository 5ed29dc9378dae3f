"""The contract of SignOffStore (ticks, waivers, approvals) and GateStore, for the fake and the SQL store."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.engine.records import Approval, ChecklistTick, GateRecord, HealthResult, SignOff, Waiver
from tests.store.conftest import T0
from tests.store.contract.conftest import Subject
from tests.store.records import a_lane, a_run, new_id


def a_tick(run_id: str, item_id: str, minutes: int, scope: str = "day2.1") -> ChecklistTick:
    return ChecklistTick(run_id, scope, item_id, "U-sre", "sam", T0 + timedelta(minutes=minutes))


def a_waiver(run_id: str, minutes: int, item_id: str | None = "backup") -> Waiver:
    return Waiver(new_id(), run_id, "day2.1", item_id, "U-lead", "lee", "done by hand", T0 + timedelta(minutes=minutes))


def a_vote(run_id: str, user: str, minutes: int, decision: str = "approved") -> Approval:
    return Approval(
        new_id(),
        run_id,
        "day2.1",
        "production",
        "lead",
        user,
        user.lower(),
        decision,
        T0 + timedelta(minutes=minutes),
        "plan-abc",
    )


async def test_ticks_come_back_in_tick_order_one_per_item_and_scope(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    second, first = a_tick(run.id, "backup", 5), a_tick(run.id, "dashboards", 1)
    for tick in (second, first, a_tick(run.id, "backup", 1, scope="gonogo.day3")):
        await subject.store.put_tick(tick)
    again = replace(second, user_id="U-lee", name="lee")
    await subject.store.put_tick(again)
    assert await subject.store.ticks(run.id, "day2.1") == [first, again]
    assert await subject.store.ticks(run.id, "day9.9") == []


async def test_an_untick_says_whether_the_item_was_ticked(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    tick = a_tick(run.id, "backup", 1)
    await subject.store.put_tick(tick)
    assert await subject.store.remove_tick(run.id, "day2.1", "backup")
    assert not await subject.store.remove_tick(run.id, "day2.1", "backup")
    assert await subject.store.ticks(run.id, "day2.1") == []
    await subject.store.put_tick(tick)
    assert await subject.store.ticks(run.id, "day2.1") == [tick]


async def test_waivers_come_back_oldest_first_per_scope(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    later, earlier, whole = a_waiver(run.id, 9), a_waiver(run.id, 2), a_waiver(run.id, 5, item_id=None)
    for waiver in (later, earlier, whole, replace(a_waiver(run.id, 1), scope="gonogo.day3")):
        await subject.store.add_waiver(waiver)
    assert await subject.store.waivers(run.id, "day2.1") == [earlier, whole, later]


async def test_approvals_are_saved_by_id_and_come_back_oldest_first_withdrawn_ones_too(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    await subject.store.put_lane(a_lane(run), None)
    late, early = a_vote(run.id, "U-lee", 5), a_vote(run.id, "U-ana", 1, "rejected")
    await subject.store.save_approval(late)
    await subject.store.save_approval(early)
    withdrawn = replace(early, withdrawn_at=T0 + timedelta(minutes=7), withdrawn_reason="the plan changed")
    await subject.store.save_approval(withdrawn)
    assert await subject.store.approvals(run.id, "day2.1", "production") == [withdrawn, late]
    assert await subject.store.approvals(run.id, "day2.1", "staging") == []


async def test_a_new_vote_withdraws_the_voters_active_vote_on_the_lane(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    await subject.store.put_lane(a_lane(run), None)
    first, other = a_vote(run.id, "U-lee", 1), a_vote(run.id, "U-ana", 2)
    await subject.store.cast_vote(first, "superseded")
    await subject.store.cast_vote(other, "superseded")
    second = a_vote(run.id, "U-lee", 3, "rejected")
    await subject.store.cast_vote(second, "superseded by a new vote")
    stored = await subject.store.approvals(run.id, "day2.1", "production")
    assert stored == [
        replace(first, withdrawn_at=second.at, withdrawn_reason="superseded by a new vote"),
        other,
        second,
    ]


def a_gate(run_id: str) -> GateRecord:
    health = HealthResult("Error rate", "error_rate_pct < 1", True, 0.4, 1.0, "0.4 %", T0, counted=[{"text": "none"}])
    return GateRecord(run_id, "gonogo.day3", health=[health], signoffs=[SignOff("lead", "U-lee", "lee", T0)])


async def test_a_gate_is_inserted_at_version_one_and_a_missing_one_reads_as_none(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    assert await subject.store.get_gate(run.id, "gonogo.day3") is None
    gate = a_gate(run.id)
    assert await subject.store.save_gate(gate)
    assert await subject.store.get_gate(run.id, "gonogo.day3") == replace(gate, version=1)
    assert not await subject.store.save_gate(gate)  # version 0: inserted already


async def test_a_gate_saved_from_a_stale_read_changes_nothing(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    await subject.store.save_gate(a_gate(run.id))
    read = await subject.store.get_gate(run.id, "gonogo.day3")
    assert read is not None
    decided = replace(read, decision="yes", decided_by="U-lee", decided_by_name="lee", decided_at=T0, reason="ok")
    assert await subject.store.save_gate(decided)
    assert not await subject.store.save_gate(replace(read, decision="no"))
    assert await subject.store.get_gate(run.id, "gonogo.day3") == replace(decided, version=2)


async def test_of_concurrent_gate_saves_from_one_read_exactly_one_wins(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    await subject.store.save_gate(a_gate(run.id))
    read = await subject.store.get_gate(run.id, "gonogo.day3")
    assert read is not None
    tries = [replace(read, signoffs=[*read.signoffs, SignOff("sre_oncall", f"U-{n}", f"u{n}", T0)]) for n in range(8)]
    results = await asyncio.gather(*(subject.replica().save_gate(record) for record in tries))
    assert results.count(True) == 1
    stored = await subject.store.get_gate(run.id, "gonogo.day3")
    assert stored == replace(tries[results.index(True)], version=2)
