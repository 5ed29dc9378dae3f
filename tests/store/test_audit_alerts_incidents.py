"""The append-only audit log, alerts and incidents."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.engine.ports import AlertRecord
from bot.engine.records import Incident
from bot.store.repository import SqlStore
from tests.store.conftest import T0
from tests.store.records import a_run, an_audit_entry, new_id


async def test_the_audit_log_returns_entries_in_the_order_they_were_appended(store: SqlStore) -> None:
    entries = [an_audit_entry(f"step {n}", run_id="run-1", at=T0 + timedelta(seconds=n)) for n in range(5)]
    other = an_audit_entry("elsewhere", run_id="run-2")
    for entry in [*entries[:2], other, *entries[2:]]:
        await store.append_audit(entry)
    refused = replace(an_audit_entry("approve day2.1", run_id="run-1"), outcome="refused", detail="four eyes")
    await store.append_audit(refused)

    assert await store.audit("run-1") == [*entries, refused]
    assert await store.audit("run-1", limit=2) == [entries[4], refused]
    assert await store.audit() == [*entries[:2], other, *entries[2:], refused]


def test_the_audit_log_offers_no_way_to_change_or_remove_an_entry() -> None:
    audit_methods = {name for name in dir(SqlStore) if "audit" in name and not name.startswith("_")}
    assert audit_methods == {"append_audit", "audit", "audit_history"}


async def test_an_alert_is_updated_in_place_and_leaves_the_active_list_when_resolved(store: SqlStore) -> None:
    breach = AlertRecord(
        id=new_id(),
        run_id="run-1",
        trigger_id="error_rate",
        kind="breach",
        state="open",
        opened_at=T0,
        message="error rate 2.3% > 1% for 5m",
        value=2.3,
        threshold=1.0,
        step_id="day2.1",
        environment="production",
        data={"series": [1.2, 2.3]},
    )
    no_data = AlertRecord(
        id=new_id(),
        run_id="run-1",
        trigger_id="p95",
        kind="no_data",
        state="open",
        opened_at=T0 + timedelta(minutes=1),
        message="no p95 latency data for 10 minutes",
        no_data_polls=3,
    )
    await store.save_alert(no_data)
    await store.save_alert(breach)
    assert await store.active_alerts("run-1") == [breach, no_data]

    acknowledged = replace(
        breach,
        state="acknowledged",
        acknowledged_by="U-sre",
        clear_since=T0 + timedelta(minutes=9),
        auto_rollback_at=T0 + timedelta(minutes=15),
    )
    await store.save_alert(acknowledged)
    resolved = replace(no_data, state="resolved", resolved_at=T0 + timedelta(minutes=20))
    await store.save_alert(resolved)

    assert await store.active_alerts("run-1") == [acknowledged]
    assert await store.get_alert(no_data.id) == resolved
    assert await store.get_alert("nope") is None


async def test_incidents_come_back_oldest_first(store: SqlStore) -> None:
    run = await store.create_run(a_run())
    later = Incident(new_id(), run.id, "U-sre", "sam", T0 + timedelta(hours=2), "checkout 500s", step_id="day2.1")
    earlier = Incident(new_id(), run.id, "U-sre", "sam", T0, "latency spike", resolved_at=T0 + timedelta(hours=1))
    await store.add_incident(later)
    await store.add_incident(earlier)
    assert await store.incidents(run.id) == [earlier, later]
