"""A decision point counts what its phase recorded: alerts, rollbacks, incidents, steps not done.

On the engine's fakes and a virtual clock: the harness runbook's gate, given ``counts`` checks.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.ports import AlertRecord
from bot.engine.rollout import Rollout
from bot.runbook.models import Runbook
from tests.engine.fakes import FakeActions, FakeChecker, FakeNotifier, FakeStore, World
from tests.engine.harness import CHANNEL, POLICY, RUNBOOK, START, lee, maria, sam

GATE = "gonogo.day3"


class Alerts:
    """The fired alerts of the run, as the store keeps them (resolved ones too)."""

    def __init__(self) -> None:
        self.fired: list[AlertRecord] = []

    async def alerts(self, run_id: str) -> list[AlertRecord]:
        return [a for a in self.fired if a.run_id == run_id]


def counting_runbook() -> Runbook:
    data = copy.deepcopy(RUNBOOK)
    data["gates"][0]["health_checks"] = [
        {"label": "No production incidents", "counts": "incidents"},
        {"label": "Days 1-3 done", "counts": "steps_done"},
    ]
    data["gates"][0]["day"] = 1  # a gate of day 1 depends on day1.1 only
    return Runbook.model_validate(data)


@pytest.fixture
async def rollout() -> tuple[Rollout, Alerts, VirtualClock]:
    clock = VirtualClock(datetime(2026, 10, 29, 14, 0, tzinfo=UTC))  # 09:00 in Chicago, Day 1
    alerts = Alerts()
    checker = FakeChecker()
    rollout = Rollout(
        counting_runbook(),
        FakeStore(),
        FakeActions(World()),
        checker,
        FakeNotifier(),
        clock,
        POLICY,
        alert_history=alerts,
    )
    await rollout.start_run(CHANNEL, START, lee)
    return rollout, alerts, clock


async def test_a_fired_trigger_and_a_step_not_done_make_the_gate_red_and_list_what_was_counted(
    rollout: tuple[Rollout, Alerts, VirtualClock],
) -> None:
    bot, alerts, clock = rollout
    run = await bot.require_run(CHANNEL)
    alerts.fired.append(
        AlertRecord("a1b2c3d4e5", run.id, "p95_latency", "breach", "resolved", clock.now(), "P95 150 ms", 150, 100)
    )
    await clock.advance(timedelta(minutes=5))
    view = await bot.gate_check_health(CHANNEL, GATE, maria)
    incidents, steps = view.record.health
    assert (incidents.passed, incidents.value) == (False, 1)
    assert incidents.counted == [{"text": "alert a1b2c3d4 P95 150 ms at 09:00", "alert": "a1b2c3d4e5"}]
    assert steps.passed is False
    assert steps.counted == [{"text": "day1.1 Scale both environments: staging pending, production pending"}]
    with pytest.raises(Refused, match="health check 'No production incidents' is failing: 1 fired triggers"):
        await bot.gate_decide(CHANNEL, GATE, True, None, lee)


async def test_a_yes_on_checks_measured_before_a_declared_incident_is_refused_until_rechecked(
    rollout: tuple[Rollout, Alerts, VirtualClock],
) -> None:
    bot, _, clock = rollout
    await bot.gate_check_health(CHANNEL, GATE, maria)
    await bot.gate_override(CHANNEL, GATE, "2", "day1.1 moved to next week", lee)
    await clock.advance(timedelta(minutes=10))
    await bot.incident(CHANNEL, "checkout errors in EU", sam)
    await bot.gate_tick(CHANNEL, GATE, "oncall", sam)
    with pytest.raises(Refused, match=r"incident declared by sam came after them \(at 09:10\)\. Nothing was decided"):
        await bot.gate_decide(CHANNEL, GATE, True, None, lee)
    view = await bot.gate_check_health(CHANNEL, GATE, maria)
    assert view.record.health[0].passed is False
    assert view.record.health[0].counted[0]["text"] == "incident declared by sam at 09:10: checkout errors in EU"
    assert view.record.health[1].override_reason == "day1.1 moved to next week"  # still failing: kept
