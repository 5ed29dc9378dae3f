"""Typed audit history: the log answers by kind, step, environment and outcome, the same from the
SQL store (SQLite and PostgreSQL) and from the engine tests' fake, and never by parsing words."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, text

from bot.engine.audit import Auditor
from bot.engine.audit_kinds import AuditKind
from bot.engine.clock import VirtualClock
from bot.engine.permissions import demo_actor
from bot.engine.records import AuditEntry
from bot.store.columns import UtcDateTime
from bot.store.repository import SqlStore
from tests.engine.fakes import FakeStore
from tests.store.conftest import T0

SAM, LEE = demo_actor("sam"), demo_actor("lee")


async def a_day_of_entries(auditor: Auditor, clock: VirtualClock) -> list[AuditEntry]:
    """Lane moves in two environments, a tick, a refusal, a gate decision, and another run's move."""
    written = [
        await auditor.record(SAM, AuditKind.STEP_STATE, run_id="run-1", step_id="day2.1", environment="staging"),
        await auditor.record(LEE, AuditKind.STEP_STATE, run_id="run-1", step_id="day2.1", environment="production"),
        await auditor.record(SAM, AuditKind.TICK, run_id="run-1", step_id="day2.1", after="backup"),
        await auditor.record(
            SAM, AuditKind.STEP_STATE, run_id="run-1", step_id="day2.1", environment="production", outcome="refused"
        ),
        await auditor.record(LEE, AuditKind.GATE_DECIDED, run_id="run-1", step_id="gonogo.day3", after="yes"),
        await auditor.record(SAM, AuditKind.STEP_STATE, run_id="run-2", step_id="day2.1", environment="production"),
        await auditor.record(
            SAM, AuditKind.CHAT_REQUEST, run_id="run-1", label="the button approve", outcome="refused"
        ),
    ]
    await clock.advance(timedelta(minutes=1))
    return written


async def test_the_sql_store_and_the_fake_answer_the_same_narrowed_histories(
    store: SqlStore, clock: VirtualClock
) -> None:
    fake = FakeStore()
    for log in (store, fake):
        entries = await a_day_of_entries(Auditor(log, clock), clock)
        staging, production, tick, refused, gate, _elsewhere, chat = entries
        assert await log.audit_history("run-1") == [staging, production, tick, refused, gate, chat]
        moves = await log.audit_history("run-1", kinds=[AuditKind.STEP_STATE], outcome="ok")
        assert moves == [staging, production]
        in_production = await log.audit_history("run-1", step_id="day2.1", environment="production")
        assert in_production == [production, refused]
        replayed = await log.audit_history("run-1", kinds={AuditKind.TICK, AuditKind.GATE_DECIDED})
        assert replayed == [tick, gate]
        assert await log.audit_history("run-1", kinds=[AuditKind.CHAT_REQUEST]) == [chat]
        assert chat.what == "the button approve" and production.scope == "day2.1@production"
        assert await log.audit_history("run-9") == []


async def test_a_kind_only_a_newer_bot_knows_reads_as_other_keeping_its_words(store: SqlStore) -> None:
    row = text(
        "INSERT INTO audit_log (id, at, actor_id, actor_name, run_id, kind, step_id, environment, outcome) "
        "VALUES ('e-new', :at, 'U_SAM', 'sam', 'run-1', 'canary judged', 'day2.1', 'production', 'ok')"
    ).bindparams(bindparam("at", type_=UtcDateTime()))
    async with store.engine.begin() as connection:
        await connection.execute(row, {"at": T0})

    [entry] = await store.audit("run-1")
    assert (entry.kind, entry.label, entry.what, entry.scope) == (
        AuditKind.OTHER,
        "canary judged",
        "canary judged",
        "day2.1@production",
    )
    assert await store.audit_history("run-1", kinds=[AuditKind.OTHER]) == []  # stored as its own kind
