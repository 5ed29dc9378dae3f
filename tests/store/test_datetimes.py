"""Datetimes: aware UTC in and out on every backend; naive ones are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import StatementError

from bot.store.columns import NaiveDatetimeRefused
from bot.store.repository import SqlStore
from tests.store.records import a_run, an_audit_entry


async def test_an_aware_datetime_in_any_zone_comes_back_aware_utc_and_equal(store: SqlStore) -> None:
    chicago = datetime(2026, 3, 8, 1, 59, 59, 123456, tzinfo=ZoneInfo("America/Chicago"))
    tokyo = datetime(2026, 4, 21, 9, 0, tzinfo=timezone(timedelta(hours=9)))
    for at in (chicago, tokyo):
        await store.append_audit(an_audit_entry("clock check", at=at))
    stored = [entry.at for entry in await store.audit()]

    assert stored == [chicago, tokyo]
    assert all(at.tzinfo is not None and at.utcoffset() == timedelta(0) for at in stored)
    assert stored[0] == datetime(2026, 3, 8, 7, 59, 59, 123456, tzinfo=UTC)


async def test_a_naive_datetime_is_refused_and_nothing_is_written(store: SqlStore) -> None:
    with pytest.raises(StatementError) as refused:
        await store.create_run(a_run(at=datetime(2026, 4, 20, 9, 0)))
    assert isinstance(refused.value.orig, NaiveDatetimeRefused)
    assert "has no time zone, so it was not stored" in str(refused.value.orig)
    assert await store.open_runs() == []
