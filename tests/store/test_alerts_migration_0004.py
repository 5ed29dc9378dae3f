"""Migration 0004 (alert slots and versions) keeps the oldest of duplicate active alerts, goes down and
up again, and leaves the alerts table as the models say."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import bindparam, text

from bot.store.columns import UtcDateTime
from bot.store.db import create_engine_for
from bot.store.migrate import current_revision, upgrade
from bot.store.repository import SqlStore
from tests.store.conftest import T0
from tests.store.test_migration_0003 import downgrade, schema_drift
from tests.store.test_migrations import empty_database_url

__all__ = ["empty_database_url"]  # the fixture, on SQLite and PostgreSQL

INSERT = text(
    "INSERT INTO alerts (id, run_id, trigger_id, kind, state, opened_at, message, no_data_polls, data) "
    "VALUES (:id, 'run-1', :trigger, :kind, :state, :at, 'left by an older bot', 0, '{}')"
).bindparams(bindparam("at", type_=UtcDateTime()))


async def older_bots_alerts(url: str) -> None:
    """What two replicas of a bot before 0004 could leave: two open alerts for one trigger, and more."""
    rows = [  # (id, trigger, kind, state, opened minutes after T0)
        ("dup-2", "error_rate", "breach", "acknowledged", 6),
        ("dup-1", "error_rate", "breach", "open", 5),
        ("dup-3", "error_rate", "incident", "open", 7),
        ("gone", "error_rate", "breach", "resolved", -60),
        ("nodata", "error_rate", "no_data", "open", 8),
        ("other", "p95_latency", "breach", "open", 9),
    ]
    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            for alert_id, trigger, kind, state, minutes in rows:
                at = T0 + timedelta(minutes=minutes)
                await connection.execute(
                    INSERT, {"id": alert_id, "trigger": trigger, "kind": kind, "state": state, "at": at}
                )
    finally:
        await engine.dispose()


async def test_upgrading_keeps_the_oldest_active_alert_of_each_slot_and_resolves_the_rest(
    empty_database_url: str,
) -> None:
    await upgrade(empty_database_url, "0003")
    await older_bots_alerts(empty_database_url)

    await upgrade(empty_database_url)

    store = SqlStore(create_engine_for(empty_database_url))
    try:
        active = await store.active_alerts("run-1")
        assert [(a.id, a.version) for a in active] == [("dup-1", 1), ("nodata", 1), ("other", 1)]
        for duplicate in ("dup-2", "dup-3"):
            resolved = await store.get_alert(duplicate)
            assert resolved is not None and resolved.state == "resolved"
            assert resolved.resolved_at == resolved.opened_at
    finally:
        await store.close()


async def test_0004_goes_down_to_0003_and_comes_back_matching_the_models(empty_database_url: str) -> None:
    await upgrade(empty_database_url)
    await downgrade(empty_database_url, "0003")
    assert await current_revision(empty_database_url) == "0003"

    await upgrade(empty_database_url)

    assert [d for d in await schema_drift(empty_database_url) if "alerts" in repr(d)] == []
