"""Runs (one open run per channel) and step lanes (compare-and-set moves with history)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from bot.engine.records import RunState, StepState
from bot.store.repository import SqlStore
from tests.store.conftest import T0
from tests.store.records import a_lane, a_run, an_audit_entry


async def test_a_run_comes_back_exactly_as_it_was_created(store: SqlStore) -> None:
    run = replace(a_run(), dry_run=True, reason="rehearsal")
    assert await store.create_run(run) == run
    assert await store.get_run(run.id) == run
    assert await store.get_run("no-such-run") is None


async def test_a_channel_keeps_its_open_run_when_a_second_is_started(store: SqlStore) -> None:
    first = await store.create_run(a_run())
    second = a_run()
    assert await store.create_run(second) == first
    assert await store.get_run(second.id) is None
    assert await store.open_run("C-rollout") == first


async def test_of_concurrent_starts_in_one_channel_exactly_one_is_stored(store: SqlStore) -> None:
    candidates = [a_run() for _ in range(10)]
    results = await asyncio.gather(*(store.create_run(run) for run in candidates))
    assert len({result.id for result in results}) == 1
    assert await store.open_runs() == [results[0]]


async def test_a_finished_run_frees_its_channel_and_leaves_the_open_list(store: SqlStore) -> None:
    old = await store.create_run(a_run(at=T0))
    finished = replace(old, state=RunState.FINISHED, finished_at=T0 + timedelta(days=10), reason="done")
    await store.save_run(finished)
    new = await store.create_run(a_run(at=T0 + timedelta(days=11)))
    other = await store.create_run(a_run(channel="C-other", state=RunState.HELD, at=T0 + timedelta(days=12)))

    assert await store.get_run(old.id) == finished
    assert await store.open_run("C-rollout") == new
    assert await store.open_runs() == [new, other]


async def test_a_lane_moves_only_from_the_state_the_caller_expects(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    lane = a_lane(run)
    assert await store.put_lane(lane, expected=None)
    assert not await store.put_lane(lane, expected=None), "a second insert must lose"

    ready = replace(lane, state=StepState.READY, changed_at=T0 + timedelta(minutes=1))
    assert await store.put_lane(ready, expected=StepState.PENDING)
    stale = replace(lane, state=StepState.SKIPPED, reason="not needed")
    assert not await store.put_lane(stale, expected=StepState.PENDING)

    assert await store.get_lane(run.id, "day2.1", "production") == ready
    assert await store.lane_history(run.id, "day2.1", "production") == [
        (None, "pending"),
        ("pending", "ready"),
    ]


async def test_of_concurrent_moves_from_one_state_exactly_one_lands(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    await store.put_lane(a_lane(run, StepState.READY), expected=None)
    moves = [replace(a_lane(run), state=StepState.APPROVED, changed_by=f"U-{n}") for n in range(20)]
    results = await asyncio.gather(*(store.put_lane(move, expected=StepState.READY) for move in moves))
    assert results.count(True) == 1
    winner = moves[results.index(True)]
    assert await store.get_lane(run.id, "day2.1", "production") == winner


async def test_lanes_are_listed_by_step_then_environment(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    for step_id, environment in (("day2.2", "staging"), ("day1.1", "production"), ("day2.2", "production")):
        await store.put_lane(replace(a_lane(run, step_id=step_id), environment=environment), expected=None)
    listed = [(lane.step_id, lane.environment) for lane in await store.lanes(run.id)]
    assert listed == [("day1.1", "production"), ("day2.2", "production"), ("day2.2", "staging")]


async def test_a_lane_remembers_who_asked_to_run_it_so_four_eyes_can_refuse_them(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    lane = replace(a_lane(run), requested_by="U_LEAD")
    assert await store.put_lane(lane, None)
    stored = await store.get_lane(run.id, lane.step_id, lane.environment)
    assert stored is not None and stored.requested_by == "U_LEAD"


async def test_a_lane_move_and_its_audit_entry_are_written_together_or_not_at_all(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    first = an_audit_entry("step state", run.id)
    assert await store.put_lane(a_lane(run, StepState.PENDING), None, audit=first)
    moved = an_audit_entry("step state", run.id)
    assert await store.put_lane(a_lane(run, StepState.READY), StepState.PENDING, audit=moved)
    refused = an_audit_entry("step state", run.id)
    assert not await store.put_lane(a_lane(run, StepState.DONE), StepState.PENDING, audit=refused)
    assert [e.id for e in await store.audit(run.id)] == [first.id, moved.id]  # the lost race wrote nothing

    with pytest.raises(IntegrityError):  # the entry cannot be written (its id is taken): the move is undone too
        await store.put_lane(a_lane(run, StepState.APPROVED), StepState.READY, audit=moved)
    lane = await store.get_lane(run.id, "day2.1", "production")
    assert lane is not None and lane.state is StepState.READY
    assert [e.id for e in await store.audit(run.id)] == [first.id, moved.id]
