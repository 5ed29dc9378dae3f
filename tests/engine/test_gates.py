"""Go/No-Go gates: concurrent changes are all kept, and a NO can be reopened (a YES cannot)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.gates import GateView
from bot.engine.ports import CheckResult
from bot.engine.records import GateRecord, RunState
from bot.engine.rollout import Rollout
from bot.engine.store import RolloutStore
from tests.engine.fakes import FakeActions, FakeChecker, FakeNotifier, FakeStore, World
from tests.engine.harness import CHANNEL, POLICY, START, dana, lee, make, maria, runbook, sam

GATE = "gonogo.day3"
NOW = datetime(2026, 10, 29, 14, 0, tzinfo=UTC)  # the harness's clock: Thursday of Day 1


class HeldChecker(FakeChecker):
    """A metrics source whose measurements wait for ``release`` once ``hold`` is called."""

    def __init__(self) -> None:
        super().__init__()
        self.values["error_rate_pct"] = 0.2
        self._release: asyncio.Event | None = None
        self.measuring = asyncio.Event()

    def hold(self) -> None:
        self._release = asyncio.Event()

    def release(self) -> None:
        assert self._release is not None
        self._release.set()

    async def check(self, condition: Any, environment: Any, now: Any) -> CheckResult:
        if self._release is not None:
            self.measuring.set()
            await self._release.wait()
        return await super().check(condition, environment, now)


def rollout_over(store: RolloutStore, clock: VirtualClock) -> tuple[Rollout, HeldChecker, FakeNotifier]:
    checker, notifier = HeldChecker(), FakeNotifier()
    rollout = Rollout(runbook(), store, FakeActions(World()), checker, notifier, clock, POLICY)
    return rollout, checker, notifier


async def ready_for_yes(rollout: Rollout) -> None:
    await rollout.start_run(CHANNEL, START, lee)
    await rollout.gate_check_health(CHANNEL, GATE, maria)
    await rollout.gate_tick(CHANNEL, GATE, "oncall", sam)


async def decide_yes_while_health_is_measured(rollout: Rollout, checker: HeldChecker, clock: VirtualClock) -> GateView:
    """The race the review reproduced: a YES lands between a health re-check's read and its save."""
    await ready_for_yes(rollout)
    await clock.advance(timedelta(minutes=5))
    checker.hold()
    recheck = asyncio.create_task(rollout.gate_check_health(CHANNEL, GATE, sam))
    await checker.measuring.wait()
    await rollout.gate_decide(CHANNEL, GATE, True, None, maria)
    checker.release()
    await recheck
    return await rollout.gate_view(CHANNEL, GATE)


async def sign_off_twice_at_once(rollout: Rollout) -> GateView:
    await rollout.start_run(CHANNEL, START, lee)
    await asyncio.gather(
        rollout.gate_signoff(CHANNEL, GATE, "manager", maria),
        rollout.gate_signoff(CHANNEL, GATE, "lead", lee),
    )
    return await rollout.gate_view(CHANNEL, GATE)


class LosingStore(FakeStore):
    """Someone else always saved the gate first."""

    async def save_gate(self, record: GateRecord) -> bool:
        return False


class TestConcurrentChanges:
    async def test_a_yes_decided_while_health_is_measured_keeps_the_decision_and_the_new_results(self) -> None:
        clock = VirtualClock(NOW)
        rollout, checker, _ = rollout_over(FakeStore(), clock)

        view = await decide_yes_while_health_is_measured(rollout, checker, clock)

        assert view.record.decision == "yes" and view.record.decided_by_name == "maria"
        assert [h.checked_at for h in view.record.health] == [clock.now()]

    async def test_two_sign_offs_at_once_are_both_kept(self) -> None:
        clock = VirtualClock(NOW)
        rollout, _, _ = rollout_over(FakeStore(), clock)

        view = await sign_off_twice_at_once(rollout)

        assert sorted((s.role, s.name) for s in view.record.signoffs) == [("lead", "lee"), ("manager", "maria")]

    async def test_the_same_role_signing_twice_at_once_keeps_one_and_refuses_the_other(self) -> None:
        h = await make()
        results = await asyncio.gather(
            h.rollout.gate_signoff(CHANNEL, GATE, "lead", lee),
            h.rollout.gate_signoff(CHANNEL, GATE, "lead", lee),
            return_exceptions=True,
        )
        assert sum(isinstance(r, Refused) for r in results) == 1
        view = await h.rollout.gate_view(CHANNEL, GATE)
        assert [s.role for s in view.record.signoffs] == ["lead"]

    async def test_a_gate_that_keeps_changing_is_refused_after_a_few_tries_and_audited(self) -> None:
        rollout, _, _ = rollout_over(LosingStore(), VirtualClock(NOW))
        await rollout.start_run(CHANNEL, START, lee)
        with pytest.raises(Refused, match=r"gonogo\.day3 kept changing while this was being saved"):
            await rollout.gate_signoff(CHANNEL, GATE, "lead", lee)
        store = rollout._ctx.store
        assert isinstance(store, FakeStore)
        assert store.audit_rows[-1].what == "gate sign-off" and store.audit_rows[-1].outcome == "refused"


class TestReopen:
    async def test_a_no_reopened_with_a_reason_can_be_decided_yes_after_fresh_checks(self) -> None:
        h = await make()
        await h.rollout.gate_check_health(CHANNEL, GATE, maria)
        await h.rollout.gate_tick(CHANNEL, GATE, "oncall", sam)
        await h.rollout.gate_signoff(CHANNEL, GATE, "manager", maria)
        await h.rollout.gate_decide(CHANNEL, GATE, False, "error budget burnt", maria)
        assert (await h.rollout.status(CHANNEL)).run.state is RunState.PAUSED

        view = await h.rollout.gate_reopen(CHANNEL, GATE, "budget recovered over the weekend", lee)

        assert (view.record.decision, view.record.decided_by, view.record.reason) == (None, None, None)
        assert view.record.signoffs == [] and view.record.health == []
        assert view.sections.complete, "section ticks are kept"
        assert "health check 'Error rate' has not been run" in view.blockers
        entry = h.store.audit_rows[-1]
        assert (entry.what, entry.actor_name, entry.before, entry.after) == ("gate reopened", "lee", "no", "undecided")
        assert entry.detail == "budget recovered over the weekend (was NO by maria: error budget burnt)"
        assert any("reopened by lee" in text for text in h.notifier.texts("gate_changed"))
        assert (await h.rollout.status(CHANNEL)).run.state is RunState.PAUSED, "resuming is a separate step"

        await h.rollout.resume(CHANNEL, lee)
        with pytest.raises(Refused, match=r"cannot run before gonogo\.day3 is decided YES"):
            await h.rollout.request_run(CHANNEL, "day3.1", "production", sam)
        await h.rollout.gate_check_health(CHANNEL, GATE, maria)
        decided = await h.rollout.gate_decide(CHANNEL, GATE, True, None, maria)
        assert decided.record.decision == "yes"
        assert (await h.rollout.request_run(CHANNEL, "day3.1", "production", sam)).changes

    async def test_a_yes_cannot_be_reopened_and_the_refusal_is_audited(self) -> None:
        h = await make()
        await h.rollout.gate_check_health(CHANNEL, GATE, maria)
        await h.rollout.gate_tick(CHANNEL, GATE, "oncall", sam)
        await h.rollout.gate_decide(CHANNEL, GATE, True, None, maria)

        with pytest.raises(Refused, match="decided YES by maria, and a YES cannot be reopened"):
            await h.rollout.gate_reopen(CHANNEL, GATE, "changed our minds", lee)

        assert (await h.rollout.gate_view(CHANNEL, GATE)).record.decision == "yes"
        entry = h.store.audit_rows[-1]
        assert (entry.what, entry.outcome, entry.step_id) == ("gate reopen", "refused", GATE)

    async def test_reopening_needs_a_decided_no_a_reason_and_someone_who_decides_gates(self) -> None:
        h = await make()
        with pytest.raises(Refused, match="has not been decided, so there is nothing to reopen"):
            await h.rollout.gate_reopen(CHANNEL, GATE, "just in case", lee)
        await h.rollout.gate_decide(CHANNEL, GATE, False, "not ready", maria)
        with pytest.raises(Refused, match=r"Reopening gonogo\.day3 needs a reason"):
            await h.rollout.gate_reopen(CHANNEL, GATE, "  ", lee)
        with pytest.raises(Refused, match="dana may not decide a Go/No-Go"):
            await h.rollout.gate_reopen(CHANNEL, GATE, "looks fine to me", dana)
        assert (await h.rollout.gate_view(CHANNEL, GATE)).record.decision == "no"
        refused = [e for e in h.store.audit_rows if e.outcome == "refused"]
        assert [e.what for e in refused] == ["gate reopen"] * 3

    async def test_a_no_decided_while_the_run_is_paused_is_recorded_and_the_run_stays_paused(self) -> None:
        h = await make()
        await h.rollout.gate_decide(CHANNEL, GATE, False, "error budget burnt", maria)
        await h.rollout.gate_reopen(CHANNEL, GATE, "budget recovered", lee)  # the run stays paused

        view = await h.rollout.gate_decide(CHANNEL, GATE, False, "burnt again", maria)  # no "already paused"

        assert (view.record.decision, view.record.reason) == ("no", "burnt again")
        assert (await h.rollout.status(CHANNEL)).run.state is RunState.PAUSED
        assert [e for e in h.store.audit_rows if e.outcome == "refused"] == []
        assert [e.detail for e in h.store.audit_rows if e.what == "gate decided"][-1] == "burnt again"
