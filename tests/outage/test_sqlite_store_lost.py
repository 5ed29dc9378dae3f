"""The embedded SQLite store made read-only, or removed, under a running `ionbot serve`: /readyz
says 503 with one loud log line (not one per request), people are told, and a restart refuses to
start afresh on an empty file where the store was, until told `--new-store`."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.sim.slack_api import FakeSlackApi
from bot.slack.delivery.outage import KNOWN_DOWN
from bot.store.cli import db_upgrade
from tests.outage.serving import Served, own_folder, refused, remove_folder, serve_env, serving

LOUD = "THE STATE STORE CANNOT BE WRITTEN"


@pytest.fixture
def folder() -> Iterator[Path]:
    made = own_folder("ion-outage-sqlite-")
    yield made
    remove_folder(made)


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


def store(folder: Path) -> Path:
    return folder / "store" / "ion.db"


def loud_lines(served: Served) -> list[str]:
    return [line for line in served.lines if LOUD in line]


async def test_a_sqlite_store_made_read_only_says_503_once_loudly_and_recovers_when_writable_again(
    folder: Path, api: FakeSlackApi
) -> None:
    async with serving(serve_env(folder, api.base_url)) as served:
        await served.until_ready(200)
        store(folder).chmod(0o444)
        for _ in range(3):
            assert await served.readyz() == 503
        status, body = await served.command("status")
        assert status == 200 and json.loads(body)["text"] == KNOWN_DOWN
        assert len(loud_lines(served)) == 1, served.lines
        assert "became read-only" in loud_lines(served)[0]

        store(folder).chmod(0o644)
        await served.until_ready(200)
    assert len(loud_lines(served)) == 1


async def test_a_removed_sqlite_store_says_503_and_a_restart_refuses_an_empty_new_file_until_told_new_store(
    folder: Path, api: FakeSlackApi, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = serve_env(folder, api.base_url)
    async with serving(env) as served:
        await served.until_ready(200)
        os.remove(store(folder))
        for _ in range(3):
            assert await served.readyz() == 503
        status, body = await served.command("status")
        assert status == 200 and json.loads(body)["text"] == KNOWN_DOWN
        assert len(loud_lines(served)) == 1, served.lines
        assert "was removed while the bot was running" in loud_lines(served)[0]
    assert not store(folder).exists(), "the removed store was recreated behind the person's back"

    code, said = await refused(env)
    assert code == 2, said
    assert f"the SQLite store {store(folder)} held this bot's state before" in said
    assert "ionbot serve --new-store" in said and "Traceback" not in said
    assert not store(folder).exists()
    monkeypatch.setenv("XDG_STATE_HOME", env["XDG_STATE_HOME"])
    assert db_upgrade(env["ION_DATABASE_URL"]) == 1  # nor does an upgrade make the lost store anew
    assert "held this bot's state before" in capsys.readouterr().out
    assert not store(folder).exists()

    async with serving(env, "--new-store") as served:
        await served.until_ready(200)
    # The removed store's -wal file is kept aside, not replayed into the new store.
    assert "ion.db-wal" in {p.name.split(".left-")[0] for p in store(folder).parent.glob("*.left-*")}
    async with serving(env) as served:  # the new store is the recorded one now
        await served.until_ready(200)
