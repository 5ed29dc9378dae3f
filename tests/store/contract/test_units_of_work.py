"""The contract of a unit of work (bot/engine/units.py), for the fake and the SQL store: its writes
commit together at its end or not at all, a nested unit joins the one around it, what it announces
waits for its commit, and (SQL) a Slack delivery's claim commits with the unit."""

from __future__ import annotations

import pytest

from bot.engine.deliveries import AlreadyHandled, handling
from bot.engine.records import Incident, StepState
from bot.engine.store import RolloutStore
from bot.engine.units import after_commit, after_unit, unit_of_work
from tests.store.conftest import T0
from tests.store.contract.conftest import Subject
from tests.store.records import a_lane, a_run, an_audit_entry, new_id


class Cut(Exception):
    """The use case is cut off between two of its writes."""


def an_incident(run_id: str) -> Incident:
    return Incident(new_id(), run_id, "U-sre", "sam", T0, "checkout errors", None)


async def write_a_use_case(store: RolloutStore, channel: str = "C-rollout") -> str:
    """Four writes of four aggregates, as a command's record takes them; returns the run's id."""
    run = await store.create_run(a_run(channel))
    await store.put_lane(a_lane(run, StepState.READY), None)
    await store.add_incident(an_incident(run.id))
    await store.append_audit(an_audit_entry("incident", run.id))
    return run.id


async def nothing_of(store: RolloutStore, run_id: str) -> bool:
    return (
        await store.get_run(run_id) is None
        and await store.lanes(run_id) == []
        and await store.incidents(run_id) == []
        and await store.audit(run_id) == []
    )


async def test_a_unit_that_raises_leaves_nothing_of_any_of_its_writes(subject: Subject) -> None:
    written: list[str] = []
    with pytest.raises(Cut):
        async with unit_of_work():
            written.append(await write_a_use_case(subject.store))
            raise Cut
    assert await nothing_of(subject.replica(), written[0])
    assert await nothing_of(subject.store, written[0])


async def test_a_unit_commits_all_of_its_writes_at_its_end_and_reads_inside_see_them(subject: Subject) -> None:
    async with unit_of_work():
        run_id = await write_a_use_case(subject.store)
        seen = await subject.store.get_run(run_id)
        assert seen is not None and [lane.state for lane in await subject.store.lanes(run_id)] == [StepState.READY]
    other = subject.replica()
    assert await other.get_run(run_id) is not None
    assert len(await other.incidents(run_id)) == 1 and len(await other.audit(run_id)) == 1


async def test_a_nested_unit_joins_the_one_around_it_and_goes_with_its_rollback(subject: Subject) -> None:
    written: list[str] = []
    with pytest.raises(Cut):
        async with unit_of_work():
            async with unit_of_work():
                written.append(await write_a_use_case(subject.store))
            assert await subject.store.get_run(written[0]) is not None  # the inner one committed nothing yet
            raise Cut
    assert await nothing_of(subject.replica(), written[0])


async def test_a_failed_call_whose_error_is_handled_leaves_the_unit_usable(subject: Subject) -> None:
    """A lost compare-and-set or a taken key inside a unit (on PostgreSQL: in a savepoint of it)."""
    async with unit_of_work():
        run = await subject.store.create_run(a_run())
        await subject.store.put_lane(a_lane(run), None)
        assert not await subject.store.put_lane(a_lane(run), None)  # the lane exists: nothing written
        entry = an_audit_entry("incident", run.id)
        await subject.store.append_audit(entry)
        with pytest.raises(subject.duplicate):
            await subject.store.append_audit(entry)
        await subject.store.add_incident(an_incident(run.id))
    other = subject.replica()
    assert len(await other.lanes(run.id)) == 1
    assert [e.id for e in await other.audit(run.id)] == [entry.id]
    assert len(await other.incidents(run.id)) == 1


async def test_what_a_unit_announces_waits_for_its_commit_and_is_dropped_with_its_rollback(
    subject: Subject,
) -> None:
    said: list[str] = []

    async def say(text: str) -> None:
        said.append(text)

    async with unit_of_work():
        await write_a_use_case(subject.store, "C-one")
        await after_commit(lambda: say("committed"))
        await after_unit(lambda: say("ended"))
        assert said == []
    assert said == ["ended", "committed"]
    with pytest.raises(Cut):
        async with unit_of_work():
            await write_a_use_case(subject.store, "C-two")
            await after_commit(lambda: say("never"))
            await after_unit(lambda: say("ended again"))
            raise Cut
    assert said == ["ended", "committed", "ended again"]
    await after_commit(lambda: say("outside a unit: at once"))
    assert said[-1] == "outside a unit: at once"


async def test_the_delivery_claim_commits_with_the_unit_so_a_retry_after_a_cut_does_it_all(
    sql_store: Subject,
) -> None:
    store = sql_store.store
    with pytest.raises(Cut), handling("incident-trigger-1", "U-sre"):
        async with unit_of_work():
            first = await write_a_use_case(store, "C-one")
            raise Cut
    assert await nothing_of(store, first)
    with handling("incident-trigger-1", "U-sre"):  # Slack's retry: the claim was not taken, so it does the work
        async with unit_of_work():
            second = await write_a_use_case(store, "C-two")
    assert await store.get_run(second) is not None
    with pytest.raises(AlreadyHandled), handling("incident-trigger-1", "U-sre"):  # a third: taken, nothing kept
        async with unit_of_work():
            third = await write_a_use_case(store, "C-three")
    assert await nothing_of(sql_store.replica(), third)
