"""Savings count when a step is done in production, are taken back on rollback; bills are the actual figure."""

from __future__ import annotations

from bot.engine.cost_ledger import CostEntry, LaneEvent, build_cost_ledger
from tests.reports.fixtures import utc, week17_runbook

RUNBOOK = week17_runbook()


def _cloud_run(events: list[LaneEvent], bills: list[CostEntry] | None = None) -> tuple[float | None, float]:
    ledger = build_cost_ledger(RUNBOOK, events, bills or [])
    row = next(s for s in ledger.services if s.service == "Cloud Run")
    return row.realised_usd, row.realised_savings_usd


def test_the_baseline_is_the_cost_table_total() -> None:
    ledger = build_cost_ledger(RUNBOOK, [])
    assert (ledger.baseline_usd, ledger.target_usd, ledger.planned_savings_usd) == (2300, 1900, -400)
    assert ledger.realised_usd == 2300
    assert ledger.overall_target_savings_usd == -615


def test_a_step_done_in_production_realises_its_saving() -> None:
    assert _cloud_run([LaneEvent("day2.1", "production", "done", utc(2026, 10, 23, 15))]) == (1100, -100)


def test_a_step_done_only_in_staging_realises_nothing() -> None:
    assert _cloud_run([LaneEvent("day2.1", "staging", "done", utc(2026, 10, 23, 14))]) == (1200, 0)


def test_a_rollback_takes_the_saving_back_and_a_redo_realises_it_again() -> None:
    done = LaneEvent("day2.1", "production", "done", utc(2026, 10, 23, 15))
    rolled_back = LaneEvent("day2.1", "production", "rolled_back", utc(2026, 10, 23, 18))
    redone = LaneEvent("day2.1", "production", "done", utc(2026, 10, 24, 15))
    assert _cloud_run([done, rolled_back]) == (1200, 0)
    assert _cloud_run([redone, rolled_back, done]) == (1100, -100)  # order of arrival does not matter


def test_service_names_match_loosely_and_sum_per_service() -> None:
    events = [
        LaneEvent(step, "production", "done", utc(2026, 10, 23, 15 + i))
        for i, step in enumerate(["day2.1", "day2.2", "day2.3", "day7.1"])
    ]
    ledger = build_cost_ledger(RUNBOOK, events)
    assert [(s.service, s.realised_savings_usd) for s in ledger.services] == [
        ("Cloud Run", -250),
        ("Cloud SQL", -100),
        ("Cache", 0),
    ]
    assert ledger.realised_usd == 1950
    assert [r.step_id for r in ledger.realised] == ["day2.1", "day2.2", "day2.3", "day7.1"]


def test_the_latest_bill_is_the_actual_figure_and_totals_need_every_service() -> None:
    bills = [
        CostEntry("cloud run", 1150, utc(2026, 10, 24, 9), "Carol"),
        CostEntry("Cloud Run", 1040, utc(2026, 10, 30, 9), "Carol"),
    ]
    ledger = build_cost_ledger(RUNBOOK, [], bills)
    cloud_run = ledger.services[0]
    assert (cloud_run.actual_usd, cloud_run.actual_recorded_at) == (1040, utc(2026, 10, 30, 9))
    assert ledger.actual_usd is None  # Cloud SQL and Cache have no bill yet
    full = [*bills, CostEntry("Cloud SQL", 760, utc(2026, 10, 30, 9)), CostEntry("Cache", 280, utc(2026, 10, 30, 9))]
    assert build_cost_ledger(RUNBOOK, [], full).actual_usd == 2080


def test_a_bill_for_an_unbudgeted_service_gets_its_own_row_without_a_baseline() -> None:
    ledger = build_cost_ledger(RUNBOOK, [], [CostEntry("BigQuery", 90, utc(2026, 10, 30, 9))])
    row = ledger.services[-1]
    assert (row.service, row.baseline_usd, row.planned_savings_usd, row.actual_usd) == ("BigQuery", None, None, 90)
    assert ledger.baseline_usd == 2300
