"""The contract of ExecutionStore, AuditLog and IncidentLog, for the fake and the SQL store."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.engine.records import Execution, ExecutionState, Incident, Run, StepState, TargetStatus
from bot.engine.store import RolloutStore
from tests.store.conftest import T0
from tests.store.contract.conftest import Subject
from tests.store.records import a_lane, a_run, a_target, an_audit_entry, an_execution, claim, new_id


async def started(store: RolloutStore, run: Run, step_id: str = "day2.1", **fields: Any) -> Execution:
    """An execution claimed on its own approved lane."""
    execution = replace(an_execution(run, step_id=step_id), **fields)
    await store.put_lane(a_lane(run, StepState.APPROVED, step_id=step_id), None)
    assert await claim(store, execution)
    return execution


async def test_saving_an_execution_changes_its_state_finish_and_message_only(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    execution = await started(subject.store, run, owner="replica-a", heartbeat_at=T0)
    ended = replace(execution, state=ExecutionState.FAILED, finished_at=T0 + timedelta(minutes=3), message="quota")
    await subject.store.save_execution(replace(ended, owner="someone-else", heartbeat_at=None, kind="rollback"))
    assert await subject.store.get_execution(ended.id) == ended
    assert await subject.store.get_execution("no-such-execution") is None
    await subject.store.save_execution(replace(ended, id="no-such-execution"))  # changes nothing, raises nothing
    assert await subject.store.get_execution("no-such-execution") is None


async def test_executions_come_back_oldest_first_and_unfinished_ones_across_runs(subject: Subject) -> None:
    one, two = await subject.store.create_run(a_run("C-a")), await subject.store.create_run(a_run("C-b"))
    later = await started(subject.store, one, "day3.1", started_at=T0 + timedelta(hours=1))
    earlier = await started(subject.store, one, "day2.1", started_at=T0)
    verifying = await started(subject.store, two, "day2.1", started_at=T0 + timedelta(minutes=30))
    done = await started(subject.store, two, "day2.2", started_at=T0 - timedelta(hours=1))
    await subject.store.save_execution(replace(verifying, state=ExecutionState.VERIFYING))
    await subject.store.save_execution(replace(done, state=ExecutionState.SUCCEEDED))
    assert await subject.store.executions(one.id) == [earlier, later]
    unfinished = await subject.store.unfinished_executions()
    assert [e.id for e in unfinished] == [earlier.id, verifying.id, later.id]


async def test_a_heartbeat_counts_only_for_the_owner_of_an_active_execution(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    execution = await started(subject.store, run, owner="replica-a", heartbeat_at=T0)
    beat = T0 + timedelta(seconds=40)
    assert await subject.store.heartbeat(execution.id, "replica-a", beat)
    assert not await subject.store.heartbeat(execution.id, "replica-b", beat)
    assert not await subject.store.heartbeat("no-such-execution", "replica-a", beat)
    stored = await subject.store.get_execution(execution.id)
    assert stored is not None and stored.heartbeat_at == beat
    await subject.store.save_execution(replace(stored, state=ExecutionState.SUCCEEDED))
    assert not await subject.store.heartbeat(stored.id, "replica-a", beat + timedelta(seconds=40))


async def test_of_concurrent_take_overs_of_a_stale_execution_exactly_one_wins(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    execution = await started(subject.store, run, owner="dead", heartbeat_at=T0)
    now = T0 + timedelta(minutes=5)
    assert not await subject.store.take_over(execution.id, "early", T0, now)
    results = await asyncio.gather(
        *(subject.replica().take_over(execution.id, f"r{n}", T0 + timedelta(minutes=2), now) for n in range(6)),
    )
    assert results.count(True) == 1
    stored = await subject.store.get_execution(execution.id)
    assert stored is not None and (stored.owner, stored.heartbeat_at) == (f"r{results.index(True)}", now)


async def test_a_waiting_execution_is_resumed_once_and_only_for_the_wait_it_is_at(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    execution = await started(subject.store, run, owner="a", heartbeat_at=T0)
    waiting = replace(execution, state=ExecutionState.WAITING, message="waiting for lee: restart the pods")
    await subject.store.save_execution(waiting)
    at = T0 + timedelta(minutes=9)
    assert not await subject.store.resume_execution(waiting.id, "b", at, "waiting for an earlier step")
    results = await asyncio.gather(
        *(subject.replica().resume_execution(waiting.id, f"r{n}", at, waiting.message) for n in range(5))
    )
    assert results.count(True) == 1
    stored = await subject.store.get_execution(waiting.id)
    assert stored is not None
    assert (stored.state, stored.owner, stored.heartbeat_at) == (ExecutionState.RUNNING, f"r{results.index(True)}", at)


async def test_target_records_are_kept_per_action_and_target_and_come_back_by_seq(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    execution = an_execution(run)
    await subject.store.put_lane(a_lane(run, StepState.APPROVED), None)
    await claim(subject.store, execution)
    second, first = a_target(execution, 2, key="europe-west1"), a_target(execution, 1, key="us-central1")
    await subject.store.save_target(second)
    await subject.store.save_target(first)
    settled = replace(first, status=TargetStatus.APPLIED, message="scaled", at=T0 + timedelta(minutes=1))
    await subject.store.save_target(settled)
    assert await subject.store.targets(execution.id) == [settled, second]
    assert await subject.store.targets("no-such-execution") == []


async def test_the_audit_log_is_in_append_order_per_run_and_limited_to_the_newest(subject: Subject) -> None:
    run = await subject.store.create_run(a_run())
    entries = [an_audit_entry(f"what {n}", run.id, T0 - timedelta(minutes=n)) for n in range(4)]  # clocks disagree
    other = an_audit_entry("elsewhere", None)
    for entry in [entries[0], entries[1], other, entries[2], entries[3]]:
        await subject.store.append_audit(entry)
    assert await subject.store.audit(run.id) == entries
    assert await subject.store.audit(run.id, limit=2) == entries[2:]
    assert await subject.store.audit() == [entries[0], entries[1], other, entries[2], entries[3]]
    try:
        await subject.store.append_audit(entries[0])
    except subject.duplicate:
        pass
    else:
        raise AssertionError("an audit entry is appended once")
    assert len(await subject.store.audit()) == 5


async def test_incidents_come_back_oldest_first_per_run(subject: Subject) -> None:
    run, other = await subject.store.create_run(a_run("C-a")), await subject.store.create_run(a_run("C-b"))
    later = Incident(new_id(), run.id, "U-ana", "ana", T0 + timedelta(hours=1), "latency spike", step_id="day2.1")
    earlier = Incident(new_id(), run.id, "U-sam", "sam", T0, "errors in staging")
    for incident in (later, earlier, replace(earlier, id=new_id(), run_id=other.id)):
        await subject.store.add_incident(incident)
    assert await subject.store.incidents(run.id) == [earlier, later]
