"""`ionbot audit` and `ionbot db`, run through bot.cli.main against a real SQLite file."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.engine.audit import Auditor
from bot.engine.audit_kinds import AuditKind
from bot.engine.clock import VirtualClock
from bot.engine.permissions import demo_actor
from bot.engine.records import Run, RunState
from bot.store.migrate import head_revision, upgrade
from bot.store.repository import SqlStore
from tests.e2e.databases import sqlite_url
from tests.e2e.scenario import CHANNEL, RUN_START, T0

RUN = "run-week17"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = sqlite_url(tmp_path / "ion.db")
    monkeypatch.setenv("ION_DATABASE_URL", url)
    return url


async def _three_entries(url: str) -> None:
    """A run with three audit entries, a minute apart, written by the engine's own Auditor."""
    await upgrade(url)
    clock = VirtualClock(T0)
    store = SqlStore.open(url, clock)
    try:
        await store.create_run(Run(RUN, "week17", CHANNEL, RUN_START, RunState.ACTIVE, T0, "U_LEAD"))
        auditor = Auditor(store, clock)
        lee, sam = demo_actor("lee"), demo_actor("sam")
        await auditor.record(lee, AuditKind.START_RUN, run_id=RUN, after="active")
        await clock.advance(timedelta(minutes=1))
        await auditor.record(
            sam, AuditKind.APPROVE, run_id=RUN, step_id="day2.1", environment="production", after="approved"
        )
        await clock.advance(timedelta(minutes=1))
        await auditor.record(
            sam, AuditKind.CONFIRM_RUN, run_id=RUN, step_id="day2.1", outcome="refused", detail="not yet"
        )
    finally:
        await store.close()


@pytest.fixture
def audited(database: str) -> str:
    asyncio.run(_three_entries(database))
    return database


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


class TestAudit:
    def test_prints_every_entry_oldest_first_one_line_each(
        self, audited: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["audit"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines == [
            f"2026-04-20 14:00:00Z lee {RUN} start run [- -> active]",
            f"2026-04-20 14:01:00Z sam {RUN} day2.1@production approve [- -> approved]",
            f"2026-04-20 14:02:00Z sam {RUN} day2.1 confirm run (REFUSED): not yet",
        ]

    def test_json_and_n_give_the_newest_entries_as_an_array(
        self, audited: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["audit", "--json", "-n", "2", "--run", RUN]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [(r["what"], r["actor_name"], r["at"]) for r in rows] == [
            ("approve", "sam", "2026-04-20T14:01:00+00:00"),
            ("confirm run", "sam", "2026-04-20T14:02:00+00:00"),
        ]

    def test_an_unknown_run_is_one_clear_line_and_exit_1(
        self, audited: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["audit", "--run", "nope"]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert one_line(captured.err).startswith("There is no run nope in the database at sqlite+aiosqlite:///")

    def test_a_database_behind_the_schema_is_refused_with_what_to_do(
        self, database: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert main(["audit"]) == 1
        line = one_line(capsys.readouterr().err)
        assert f"is at revision none but this bot needs {head_revision()}; nothing was read." in line
        assert line.endswith("Run `ionbot db upgrade` first.")

    @pytest.mark.parametrize(
        ("url", "said"),
        [
            ("mysql://root@localhost/ion", "uses the driver 'mysql', which this bot does not support"),
            ("not a database url", "is not a database URL; nothing was read"),
        ],
    )
    def test_a_bad_database_url_is_one_clear_line_and_exit_1(
        self, url: str, said: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("ION_DATABASE_URL", url)
        assert main(["audit"]) == 1
        assert said in one_line(capsys.readouterr().err)


class TestDb:
    def test_upgrade_brings_a_new_database_to_head_and_current_then_agrees(
        self, database: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        head = head_revision()
        assert main(["db", "current"]) == 1
        assert f"is at revision none; this bot needs {head}" in capsys.readouterr().out
        assert main(["db", "upgrade"]) == 0
        assert f"from revision none to {head}" in capsys.readouterr().out
        assert main(["db", "current"]) == 0
        assert one_line(capsys.readouterr().out).endswith(f"is at revision {head} (head).")
        assert main(["db", "upgrade"]) == 0
        assert "nothing to do" in capsys.readouterr().out

    def test_a_bad_url_is_one_clear_line_and_exit_1(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        monkeypatch.setenv("ION_DATABASE_URL", "not a database url")
        assert main(["db", "upgrade"]) == 1
        assert "is not a database URL; nothing was read" in one_line(capsys.readouterr().err)

    def test_db_without_an_action_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["db"]) == 2
        assert "db" in capsys.readouterr().err
