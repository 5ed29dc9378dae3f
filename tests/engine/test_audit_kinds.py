"""The audit log's kinds: one per thing the bot records, the words the log always showed, and
entries that keep a lane's step and environment apart while showing them as before."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime

import pytest

from bot.engine.audit import Auditor, format_audit
from bot.engine.audit_kinds import AuditKind
from bot.engine.clock import VirtualClock
from bot.engine.permissions import demo_actor
from bot.engine.records import RunState
from tests.engine.fakes import FakeStore

T0 = datetime(2026, 4, 20, 14, tzinfo=UTC)
SAM = demo_actor("sam")


def test_every_kind_migration_0010_converts_from_words_is_a_kind_of_the_same_words() -> None:
    migration = importlib.import_module("bot.store.migrations.versions.0010_typed_audit")
    assert set(migration.KNOWN_KINDS) <= {kind.value for kind in AuditKind}
    assert {migration.CHAT_REQUEST, migration.OTHER} == {kind.value for kind in AuditKind if kind.worded}


def test_holding_pausing_and_resuming_a_run_are_refused_as_their_own_kinds() -> None:
    kinds = [AuditKind.setting_run(state) for state in (RunState.HELD, RunState.PAUSED, RunState.ACTIVE)]
    assert kinds == [AuditKind.RUN_HELD, AuditKind.RUN_PAUSED, AuditKind.RUN_ACTIVE]


def test_a_stored_kind_this_version_does_not_know_reads_as_other() -> None:
    assert AuditKind.read("gate decided") is AuditKind.GATE_DECIDED
    assert AuditKind.read("canary judged") is AuditKind.OTHER


async def test_a_worded_kind_needs_its_words_and_no_other_kind_takes_any() -> None:
    auditor = Auditor(FakeStore(), VirtualClock(T0))
    with pytest.raises(ValueError, match="CHAT_REQUEST needs a label"):
        await auditor.record(SAM, AuditKind.CHAT_REQUEST, run_id="run-1", outcome="refused")
    with pytest.raises(ValueError, match="TICK takes no label"):
        await auditor.record(SAM, AuditKind.TICK, run_id="run-1", label="tick backup")


async def test_a_lane_entry_shows_step_at_environment_and_its_json_gives_them_apart() -> None:
    store = FakeStore()
    auditor = Auditor(store, VirtualClock(T0))
    await auditor.record(
        SAM,
        AuditKind.STEP_STATE,
        run_id="run-1",
        step_id="day2.1",
        environment="production",
        before="approved",
        after="running",
    )
    await auditor.record(SAM, AuditKind.CHAT_REQUEST, run_id="run-1", label="/ion start", outcome="refused")

    lines = format_audit(store.audit_rows, as_json=False).splitlines()
    assert lines == [
        "2026-04-20 14:00:00Z sam run-1 day2.1@production step state [approved -> running]",
        "2026-04-20 14:00:00Z sam run-1 /ion start (REFUSED)",
    ]
    rows = json.loads(format_audit(store.audit_rows, as_json=True))
    assert list(rows[0]) == [
        "id",
        "at",
        "actor_id",
        "actor_name",
        "run_id",
        "step_id",
        "environment",
        "what",
        "kind",
        "before",
        "after",
        "outcome",
        "detail",
    ]
    assert [(r["step_id"], r["environment"], r["what"], r["kind"]) for r in rows] == [
        ("day2.1", "production", "step state", "step state"),
        (None, None, "/ion start", "chat request"),
    ]
