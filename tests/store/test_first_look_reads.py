"""The store's side of a request's first look: the channel's open run and the asked settings in one
transaction, the same answers as the two reads it replaces, on SQLite and PostgreSQL, and from the
throwaway store's caches."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from bot.engine.clock import VirtualClock
from bot.engine.records import RunState
from bot.store.db import create_engine_for
from bot.store.repository import SoleWriterStore, SqlStore
from tests.store.records import a_run


def commits_during(store: SqlStore) -> list[int]:
    counted: list[int] = []
    event.listen(store.engine.sync_engine, "commit", lambda _conn: counted.append(1))
    return counted


async def test_the_first_look_is_the_open_run_and_the_settings_in_one_read(store: SqlStore) -> None:
    run = await store.create_run(a_run("C1"))
    await store.put_value("delegations", [{"role": "lead"}])
    commits = commits_during(store)
    looked = await store.first_look("C1", ("delegations", "never-set"))
    assert looked == (await store.open_run("C1"), {"delegations": [{"role": "lead"}], "never-set": None})
    assert looked[0] is not None and looked[0].id == run.id
    assert len(commits) == 2  # the look itself, then the open_run compared with it


async def test_a_channel_without_an_open_run_looks_empty(store: SqlStore) -> None:
    await store.create_run(a_run("C1", state=RunState.FINISHED))
    assert await store.first_look("C1", ()) == (None, {})
    assert await store.first_look("C-none", ("delegations",)) == (None, {"delegations": None})


async def test_the_throwaway_store_answers_the_first_look_from_its_caches(
    database_url: str, clock: VirtualClock
) -> None:
    store = SoleWriterStore(create_engine_for(database_url), clock)
    try:
        run = await store.create_run(a_run("C1"))
        await store.put_value("delegations", [])
        assert (await store.first_look("C1", ("delegations",)))[0] == run
        commits: list[Any] = commits_during(store)
        looked = await store.first_look("C1", ("delegations",))
        assert looked == (run, {"delegations": []})
        assert commits == []  # both were cached by the reads before
    finally:
        await store.close()
