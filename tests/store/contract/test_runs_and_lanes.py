"""The contract of RunStore and LaneStore (claim_lane included), held for the fake and the SQL store."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from bot.engine.records import ExecutionState, RunState, StepState
from tests.store.conftest import T0
from tests.store.contract.conftest import Subject
from tests.store.records import a_claim, a_lane, a_run, an_audit_entry, an_execution, claim


async def test_a_run_round_trips_and_a_missing_one_reads_as_none(subject: Subject) -> None:
    run = a_run()
    assert await subject.store.create_run(run) == run
    assert await subject.store.get_run(run.id) == run
    assert await subject.store.get_run("no-such-run") is None
    assert await subject.store.open_run("C-elsewhere") is None


async def test_a_second_start_in_a_channel_gets_the_open_run_back_and_inserts_nothing(subject: Subject) -> None:
    first = await subject.store.create_run(a_run())
    second = a_run(at=T0 + timedelta(minutes=1))
    assert await subject.store.create_run(second) == first
    assert await subject.store.get_run(second.id) is None


async def test_of_concurrent_starts_in_one_channel_exactly_one_is_inserted(subject: Subject) -> None:
    runs = [a_run() for _ in range(8)]
    stored = await asyncio.gather(*(subject.replica().create_run(run) for run in runs))
    assert len({run.id for run in stored}) == 1
    assert [await subject.store.get_run(run.id) is not None for run in runs].count(True) == 1


async def test_open_runs_are_the_unfinished_ones_oldest_first(subject: Subject) -> None:
    later = await subject.store.create_run(a_run("C-b", at=T0 + timedelta(hours=1)))
    earlier = await subject.store.create_run(a_run("C-a", at=T0))
    await subject.store.create_run(a_run("C-c", RunState.FINISHED, at=T0 - timedelta(hours=1)))
    assert await subject.store.open_runs() == [earlier, later]
    assert await subject.store.open_run("C-a") == earlier


async def test_saving_a_run_changes_its_state_reason_and_finish_only(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    finished = replace(run, state=RunState.ABANDONED, reason="wrong week", finished_at=T0 + timedelta(days=1))
    await subject.store.save_run(replace(finished, channel="C-moved", created_by="U-other"))
    assert await subject.store.get_run(run.id) == finished
    assert await subject.store.open_run(run.channel) is None


async def test_a_lane_is_inserted_once_and_then_moved_only_from_the_state_expected(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    lane = a_lane(run)
    assert await subject.store.get_lane(run.id, lane.step_id, lane.environment) is None
    assert await subject.store.put_lane(lane, None)
    assert not await subject.store.put_lane(replace(lane, reason="again"), None)
    ready = replace(lane, state=StepState.READY, reason="checklist done")
    assert not await subject.store.put_lane(ready, StepState.APPROVED)
    assert await subject.store.get_lane(run.id, lane.step_id, lane.environment) == lane
    assert await subject.store.put_lane(ready, StepState.PENDING)
    assert await subject.store.get_lane(run.id, lane.step_id, lane.environment) == ready


async def test_lanes_come_back_ordered_by_step_then_environment(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    lanes = [
        replace(a_lane(run, step_id="day3.1"), environment="production"),
        replace(a_lane(run, step_id="day2.1"), environment="staging"),
        replace(a_lane(run, step_id="day2.1"), environment="production"),
    ]
    for lane in lanes:
        await subject.store.put_lane(lane, None)
    assert await subject.store.lanes(run.id) == [lanes[2], lanes[1], lanes[0]]
    assert await subject.store.lanes("no-such-run") == []


async def test_a_lane_move_writes_its_audit_entry_with_it_and_a_lost_one_writes_none(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    lane = a_lane(run)
    await subject.store.put_lane(lane, None)
    won, lost = an_audit_entry("step state", run.id), an_audit_entry("step state", run.id)
    assert await subject.store.put_lane(replace(lane, state=StepState.READY), StepState.PENDING, won)
    assert not await subject.store.put_lane(replace(lane, state=StepState.SKIPPED), StepState.PENDING, lost)
    assert await subject.store.audit(run.id) == [won]


async def test_of_concurrent_moves_from_one_state_exactly_one_wins(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    lane = a_lane(run)
    await subject.store.put_lane(lane, None)
    moves = [replace(lane, state=StepState.READY, changed_by=f"U-{n}") for n in range(10)]
    entries = [an_audit_entry("step state", run.id) for _ in moves]
    results = await asyncio.gather(
        *(
            subject.replica().put_lane(move, StepState.PENDING, entry)
            for move, entry in zip(moves, entries, strict=True)
        )
    )
    assert results.count(True) == 1
    winner = results.index(True)
    assert await subject.store.get_lane(run.id, lane.step_id, lane.environment) == moves[winner]
    assert await subject.store.audit(run.id) == [entries[winner]]


async def test_a_claim_moves_the_lane_starts_the_execution_and_audits_it_in_one_go(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    lane = replace(a_lane(run, StepState.APPROVED), reason="approved by lee", requested_by="U-sam")
    await subject.store.put_lane(lane, None)
    execution = replace(an_execution(run, at=T0 + timedelta(minutes=5)), owner="replica-a", heartbeat_at=T0)
    moved, expected, entry = a_claim(execution)

    assert await subject.store.claim_lane(moved, expected, execution, entry)

    stored = await subject.store.get_lane(run.id, lane.step_id, lane.environment)
    assert stored == replace(
        lane,
        state=StepState.RUNNING,
        last_execution_id=execution.id,
        changed_at=execution.started_at,
        changed_by=execution.requested_by,
    )  # the reason and who requested it stay as they were
    assert await subject.store.get_execution(execution.id) == execution
    assert await subject.store.audit(run.id) == [entry]


async def test_a_claim_from_another_state_or_on_no_lane_writes_nothing_at_all(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    lane = a_lane(run, StepState.READY)
    await subject.store.put_lane(lane, None)
    execution, elsewhere = an_execution(run), an_execution(run, step_id="day9.9")

    assert not await claim(subject.store, execution)
    assert not await claim(subject.store, elsewhere)

    assert await subject.store.get_lane(run.id, lane.step_id, lane.environment) == lane
    assert await subject.store.executions(run.id) == []
    assert await subject.store.audit(run.id) == []


async def test_of_concurrent_claims_exactly_one_wins_with_one_execution_and_one_audit_row(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    await subject.store.put_lane(a_lane(run, StepState.APPROVED), None)
    attempts = [an_execution(run, by=f"U-{n}") for n in range(12)]
    results = await asyncio.gather(*(claim(subject.replica(), execution) for execution in attempts))
    assert results.count(True) == 1
    winner = attempts[results.index(True)]
    assert await subject.store.executions(run.id) == [winner]
    audit = await subject.store.audit(run.id)
    assert [(e.actor_id, e.before, e.after) for e in audit] == [(winner.requested_by, "approved", "running")]


async def test_a_claim_whose_audit_row_cannot_be_written_moves_nothing_and_starts_nothing(subject: Subject) -> None:
    """What a crash between the claim and its audit row used to lose: now all of it happens, or none."""
    run = await subject.store.create_run(a_run())
    lane = a_lane(run, StepState.APPROVED)
    await subject.store.put_lane(lane, None)
    taken = an_audit_entry("start run", run.id)
    await subject.store.append_audit(taken)
    execution = an_execution(run)
    moved, expected, entry = a_claim(execution)

    try:
        await subject.store.claim_lane(moved, expected, execution, replace(entry, id=taken.id))
    except subject.duplicate:
        pass
    else:
        raise AssertionError("a claim whose audit entry id is taken must fail")

    assert await subject.store.get_lane(run.id, lane.step_id, lane.environment) == lane
    assert await subject.store.get_execution(execution.id) is None
    assert await subject.store.audit(run.id) == [taken]


async def test_a_claim_of_an_execution_already_stored_moves_nothing_and_audits_nothing(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    await subject.store.put_lane(a_lane(run, StepState.APPROVED), None)
    await subject.store.put_lane(a_lane(run, StepState.APPROVED, step_id="day2.2"), None)
    first = an_execution(run)
    assert await claim(subject.store, first)
    again = replace(first, step_id="day2.2", state=ExecutionState.RUNNING)

    try:
        await claim(subject.store, again)
    except subject.duplicate:
        pass
    else:
        raise AssertionError("a claim of a stored execution id must fail")

    assert (await subject.store.get_lane(run.id, "day2.2", "production")) == a_lane(run, StepState.APPROVED, "day2.2")
    assert await subject.store.executions(run.id) == [first]
    assert len(await subject.store.audit(run.id)) == 1
