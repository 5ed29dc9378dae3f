"""`/ion cost` as an engine use case: a bill is kept with its audit row, or nothing is written at all."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from bot.engine.audit import Auditor
from bot.engine.cost_recording import CostRecording, bills_key, positive_usd
from bot.engine.errors import Refused
from bot.engine.ports import JSON, Actor
from bot.engine.records import Run, RunState
from bot.reports.gather import bills_key as report_bills_key
from tests.engine.fakes import FakeStore
from tests.reports.fixtures import VirtualClock, utc, week17_runbook

CHANNEL = "C-ROLLOUT"
LEE = Actor("U-LEE", "lee")
RUN = Run("run-1", "week17", CHANNEL, date(2026, 10, 22), RunState.ACTIVE, utc(2026, 10, 22, 14), "U-LEE")


class ChannelRuns:
    """The channel's run, as Rollout.require_run answers: refused in a channel without one."""

    async def require_run(self, channel: str) -> Run:
        if channel != CHANNEL:
            raise Refused("There is no run in this channel; start one with /ion start.")
        return RUN


class Bills:
    """The key-value store's append, in a dictionary."""

    def __init__(self) -> None:
        self.values: dict[str, list[JSON]] = {}

    async def append_value(self, key: str, item: JSON) -> list[JSON]:
        self.values.setdefault(key, []).append(item)
        return self.values[key]


def recording() -> tuple[CostRecording, Bills, FakeStore]:
    runbook = week17_runbook()
    clock = VirtualClock(utc(2026, 10, 26, 15, 30))
    store = FakeStore()
    bills = Bills()
    return CostRecording(lambda: runbook, clock, ChannelRuns(), bills, Auditor(store, clock)), bills, store


async def test_a_bill_is_kept_under_the_run_with_who_and_when_and_its_audit_row() -> None:
    costs, bills, store = recording()
    said = await costs.record_cost(CHANNEL, "cloud-run", Decimal("1100.00"), LEE)
    assert said == (
        "Recorded Cloud Run at $1,100/month (by lee); baseline $1,200, target $950, so -$100/month realised. "
        "The next report's realised line shows it."
    )
    assert bills.values == {
        bills_key(RUN.id): [
            {"service": "Cloud Run", "monthly_usd": 1100.0, "recorded_at": "2026-10-26T15:30:00+00:00", "by": "lee"}
        ]
    }
    [entry] = store.audit_rows
    assert (entry.what, entry.run_id, entry.actor_name, entry.detail) == (
        "record cost",
        RUN.id,
        "lee",
        "Cloud Run $1,100/month",
    )


async def test_two_bills_for_one_service_are_both_kept_in_order() -> None:
    costs, bills, _ = recording()
    await costs.record_cost(CHANNEL, "Cloud Run", "$1,100.50", LEE)
    await costs.record_cost(CHANNEL, "CLOUD_RUN", 1050, LEE)
    kept = bills.values[bills_key(RUN.id)]
    assert [bill["monthly_usd"] for bill in kept if isinstance(bill, dict)] == [1100.5, 1050.0]


async def test_an_unknown_service_is_refused_with_a_suggestion_and_nothing_is_written() -> None:
    costs, bills, store = recording()
    with pytest.raises(Refused, match=r"no service 'clod-run'.*did you mean cloud-run.*No cost was recorded"):
        await costs.record_cost(CHANNEL, "clod-run", Decimal("900"), LEE)
    assert bills.values == {}
    assert store.audit_rows == []


@pytest.mark.parametrize("amount", ["0", "-5", "lots", "nan", "inf"])
async def test_an_amount_that_is_not_a_positive_dollar_figure_is_refused_and_nothing_is_written(amount: str) -> None:
    costs, bills, store = recording()
    with pytest.raises(Refused, match=r"is not a monthly cost in dollars above zero.*No cost was recorded"):
        await costs.record_cost(CHANNEL, "cache", amount, LEE)
    assert bills.values == {}
    assert store.audit_rows == []


async def test_a_channel_without_a_run_is_refused_before_anything_is_checked() -> None:
    costs, bills, _ = recording()
    with pytest.raises(Refused, match="There is no run in this channel"):
        await costs.record_cost("C-ELSEWHERE", "nothing-like-a-service", "junk", LEE)
    assert bills.values == {}


def test_dollar_amounts_read_like_people_write_them() -> None:
    assert positive_usd(Decimal("950")) == 950.0
    assert positive_usd(" $1,100.50 ") == 1100.5
    assert positive_usd(290) == 290.0


def test_the_reports_read_bills_where_the_use_case_writes_them() -> None:
    assert report_bills_key("run-1") == bills_key("run-1") == "cost:bills:run-1"
