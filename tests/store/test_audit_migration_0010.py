"""Migration 0010 (the typed audit log): rows an older bot wrote as words and "step@environment"
come out typed, words no kind has are kept, and the revision goes down and up again losslessly."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, text

from bot.engine.audit import format_audit
from bot.engine.audit_kinds import AuditKind
from bot.engine.records import AuditEntry
from bot.store.columns import UtcDateTime
from bot.store.db import create_engine_for
from bot.store.migrate import current_revision, upgrade
from bot.store.repository import SqlStore
from bot.store.schema import HEAD_REVISION
from tests.store.conftest import T0
from tests.store.test_migration_0003 import downgrade, schema_drift
from tests.store.test_migrations import empty_database_url

__all__ = ["empty_database_url"]  # the fixture, on SQLite and PostgreSQL

OLD_ROW = text(
    "INSERT INTO audit_log (id, at, actor_id, actor_name, run_id, step_id, what, before, after, outcome, detail) "
    "VALUES (:id, :at, 'U_SAM', 'sam', 'run-1', :step_id, :what, :before, :after, :outcome, NULL)"
).bindparams(bindparam("at", type_=UtcDateTime()))

# (what, step_id, before, after, outcome) as a bot before revision 0010 wrote them
OLDER_ROWS = [
    ("step state", "day2.1@production", "approved", "running", "ok"),
    ("tick", "day2.1", None, "backup", "ok"),
    ("gate decided", "gonogo.day3", "undecided", "no", "ok"),
    ("start run", None, None, "active", "ok"),
    ("rollback", "day2.1@staging", None, None, "refused"),
    ("/ion start", None, None, None, "refused"),
    ("the button approve", "day2.1@production", None, None, "refused"),
    ("the dialog", None, None, None, "refused"),
    ("frobnicated by a newer bot", "day2.2@", None, None, "ok"),
    ("incident", "@production", None, None, "ok"),
]


async def an_older_bots_audit_log(url: str) -> None:
    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            for n, (what, step_id, before, after, outcome) in enumerate(OLDER_ROWS):
                values = {"what": what, "step_id": step_id, "before": before, "after": after, "outcome": outcome}
                await connection.execute(OLD_ROW, {"id": f"e{n}", "at": T0 + timedelta(minutes=n), **values})
    finally:
        await engine.dispose()


async def older_rows_as_written(url: str) -> list[tuple[str | None, ...]]:
    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                text("SELECT what, step_id, before, after, outcome FROM audit_log ORDER BY seq")
            )
            return [tuple(row) for row in result]
    finally:
        await engine.dispose()


async def typed_log(url: str) -> list[AuditEntry]:
    store = SqlStore(create_engine_for(url))
    try:
        return await store.audit("run-1")
    finally:
        await store.close()


async def test_older_rows_get_their_kind_and_their_lane_split_into_step_and_environment(
    empty_database_url: str,
) -> None:
    await upgrade(empty_database_url, "0009")
    await an_older_bots_audit_log(empty_database_url)
    await upgrade(empty_database_url)

    entries = await typed_log(empty_database_url)
    typed = [(e.kind, e.step_id, e.environment, e.label) for e in entries]
    assert typed == [
        (AuditKind.STEP_STATE, "day2.1", "production", None),
        (AuditKind.TICK, "day2.1", None, None),
        (AuditKind.GATE_DECIDED, "gonogo.day3", None, None),
        (AuditKind.START_RUN, None, None, None),
        (AuditKind.ROLLBACK, "day2.1", "staging", None),
        (AuditKind.CHAT_REQUEST, None, None, "/ion start"),
        (AuditKind.CHAT_REQUEST, "day2.1", "production", "the button approve"),
        (AuditKind.CHAT_REQUEST, None, None, "the dialog"),
        (AuditKind.OTHER, "day2.2@", None, "frobnicated by a newer bot"),  # nothing after "@": left whole
        (AuditKind.INCIDENT, "", "production", None),
    ]
    # What the log shows is what it showed before the migration, word for word.
    assert [(e.what, e.scope, e.before, e.after, e.outcome) for e in entries] == OLDER_ROWS


async def test_typed_history_finds_migrated_lane_moves_by_step_and_environment(empty_database_url: str) -> None:
    await upgrade(empty_database_url, "0009")
    await an_older_bots_audit_log(empty_database_url)
    await upgrade(empty_database_url)
    store = SqlStore(create_engine_for(empty_database_url))
    try:
        moves = await store.audit_history("run-1", kinds=[AuditKind.STEP_STATE], step_id="day2.1")
        in_production = await store.audit_history("run-1", environment="production", outcome="refused")
    finally:
        await store.close()
    assert [(e.id, e.before, e.after) for e in moves] == [("e0", "approved", "running")]
    assert [e.what for e in in_production] == ["the button approve"]


async def test_0010_goes_down_to_0009_giving_back_the_words_and_comes_back_matching_the_models(
    empty_database_url: str,
) -> None:
    await upgrade(empty_database_url, "0009")
    await an_older_bots_audit_log(empty_database_url)
    await upgrade(empty_database_url)
    before_down = format_audit(await typed_log(empty_database_url), as_json=False)

    await downgrade(empty_database_url, "0009")
    assert await current_revision(empty_database_url) == "0009"
    assert await older_rows_as_written(empty_database_url) == OLDER_ROWS

    await upgrade(empty_database_url)
    assert await current_revision(empty_database_url) == HEAD_REVISION
    assert format_audit(await typed_log(empty_database_url), as_json=False) == before_down
    assert [d for d in await schema_drift(empty_database_url) if "audit_log" in repr(d)] == []
