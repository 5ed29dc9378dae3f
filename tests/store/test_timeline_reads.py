"""The web timeline's reads over a whole run (issue 14 made them prebuilt Core statements): every run
oldest first, the run's standing ticks of every scope, every vote of every lane withdrawn ones
included, and a scope's tick history with when each tick was taken back."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.engine.clock import VirtualClock
from bot.engine.records import Approval, ChecklistTick, RunState
from bot.store.repository import SqlStore
from tests.store.conftest import T0
from tests.store.records import a_run, an_audit_entry, new_id


def a_tick(run_id: str, scope: str, item_id: str, minutes: int) -> ChecklistTick:
    return ChecklistTick(run_id, scope, item_id, "U-sam", "sam", T0 + timedelta(minutes=minutes))


def a_vote(run_id: str, environment: str, user_id: str, minutes: int) -> Approval:
    at = T0 + timedelta(minutes=minutes)
    return Approval(new_id(), run_id, "day2.1", environment, "lead", user_id, user_id, "approved", at, "plan-abc")


async def test_every_run_comes_back_oldest_first_open_or_not(store: SqlStore) -> None:
    older = await store.create_run(replace(a_run("C-old", RunState.FINISHED), created_at=T0 - timedelta(days=7)))
    newer = await store.create_run(a_run("C-new"))
    assert [run.id for run in await store.runs()] == [older.id, newer.id]
    assert [run.id for run in await store.open_runs()] == [newer.id]


async def test_the_runs_standing_ticks_of_every_scope_come_back_in_tick_order(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    await store.put_tick(a_tick(run.id, "day2.1", "smoke", 2))
    await store.put_tick(a_tick(run.id, "preflight", "team-trained", 1))
    await store.put_tick(a_tick(run.id, "preflight", "oncall-ready", 3))
    assert await store.remove_tick(run.id, "preflight", "oncall-ready", by="U-lee")

    standing = await store.run_ticks(run.id)
    assert [(t.scope, t.item_id) for t in standing] == [("preflight", "team-trained"), ("day2.1", "smoke")]


async def test_a_scopes_tick_history_keeps_the_ticks_taken_back_with_when(store: SqlStore, clock: VirtualClock) -> None:
    run = await store.create_run(a_run())
    await store.put_tick(a_tick(run.id, "preflight", "team-trained", 1))
    assert await store.remove_tick(run.id, "preflight", "team-trained")
    await store.put_tick(a_tick(run.id, "preflight", "team-trained", 5))

    history = await store.tick_history(run.id, "preflight")
    assert [(tick.at, unticked) for tick, unticked in history] == [
        (T0 + timedelta(minutes=1), clock.now()),
        (T0 + timedelta(minutes=5), None),
    ]


async def test_every_vote_of_the_run_comes_back_withdrawn_ones_included(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    first = a_vote(run.id, "staging", "U-maria", 1)
    await store.cast_vote(first, "superseded")
    await store.cast_vote(a_vote(run.id, "production", "U-sam", 2), "superseded")
    again = a_vote(run.id, "staging", "U-maria", 3)
    await store.cast_vote(again, "superseded")

    votes = await store.run_approvals(run.id)
    assert [(v.id, v.withdrawn_reason) for v in votes] == [
        (first.id, "superseded"),
        (votes[1].id, None),
        (again.id, None),
    ]
    assert [v.id for v in await store.approvals(run.id, "day2.1", "staging")] == [first.id, again.id]


async def test_the_newest_entries_of_the_whole_log_come_back_oldest_first(store: SqlStore) -> None:
    entries = [an_audit_entry("incident", run_id, T0 + timedelta(minutes=n)) for n, run_id in enumerate("abab")]
    for entry in entries:
        await store.append_audit(entry)
    assert await store.audit(limit=3) == entries[1:]
    assert await store.audit() == entries
