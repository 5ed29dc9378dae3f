"""A step's ``recheck:`` metrics are read again before a production run: a miss expires the votes."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.records import StepState
from bot.engine.rollout import Rollout
from bot.runbook.models import Runbook
from tests.engine.fakes import FakeActions, FakeChecker, FakeNotifier, FakeStore, World
from tests.engine.harness import CHANNEL, POLICY, RUNBOOK, START, Harness, lee, make, sam

RECHECK = ["error_rate_pct < 0.5", "p95_latency_ms < 50"]


def rechecked_runbook() -> Runbook:
    """The test runbook with day1.1 (staging, production) and day2.1 (production) re-checking
    error rate and p95 before their runs."""
    data: dict[str, Any] = copy.deepcopy(RUNBOOK)
    data["days"][0]["steps"][0]["recheck"] = RECHECK
    data["days"][1]["steps"][0]["recheck"] = RECHECK
    return Runbook.model_validate(data)


async def rechecked() -> Harness:
    store, world, checker, notifier = FakeStore(), World(), FakeChecker(), FakeNotifier()
    checker.values.update({"error_rate_pct": 0.2, "p95_latency_ms": 40.0})
    clock = VirtualClock(datetime(2026, 10, 29, 14, 0, tzinfo=UTC))
    rollout = Rollout(rechecked_runbook(), store, FakeActions(world), checker, notifier, clock, POLICY)
    await rollout.start_run(CHANNEL, START, lee)
    return Harness(rollout, store, world, checker, notifier, clock)


async def approved(h: Harness) -> str:
    plan = await h.rollout.request_run(CHANNEL, "day2.1", "production", sam)
    await h.rollout.approve(CHANNEL, "day2.1", "production", lee)
    return plan.fingerprint


class TestMetricRecheck:
    async def test_a_failing_recheck_at_confirm_expires_the_approvals_and_runs_nothing(self) -> None:
        h = await rechecked()
        fingerprint = await approved(h)
        h.checker.values["p95_latency_ms"] = 72.0
        with pytest.raises(Refused) as refused:
            await h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, fingerprint)
        assert "metric re-check failed: p95_latency_ms < 50 read 72" in refused.value.message
        assert "Nothing was run" in refused.value.message
        view = await h.rollout.step_view(CHANNEL, "day2.1")
        lane = view.lanes[0].lane
        assert lane.state is StepState.READY
        assert lane.reason == "approval expired: metric re-check failed: p95_latency_ms < 50 read 72"
        assert view.lanes[0].approvals == []
        votes = await h.store.approvals(lane.run_id, "day2.1", "production")
        assert [v.withdrawn_reason for v in votes] == ["metric re-check failed: p95_latency_ms < 50 read 72"]
        withdrawn = [e for e in h.store.audit_rows if e.what == "approval withdrawn"]
        assert len(withdrawn) == 1 and withdrawn[0].detail == "metric re-check failed: p95_latency_ms < 50 read 72"
        refusals = [e for e in h.store.audit_rows if e.what == "confirm run" and e.outcome == "refused"]
        assert refusals and "metric re-check failed" in (refusals[-1].detail or "")
        assert h.world.applied == []

    async def test_a_recheck_without_data_fails_too(self) -> None:
        h = await rechecked()
        fingerprint = await approved(h)
        del h.checker.values["error_rate_pct"]
        with pytest.raises(Refused, match=re.escape("metric re-check failed: error_rate_pct < 0.5 read no data")):
            await h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, fingerprint)
        assert h.world.applied == []

    async def test_a_failing_recheck_refuses_the_request_and_withdraws_earlier_votes(self) -> None:
        h = await rechecked()
        await approved(h)
        h.checker.values["error_rate_pct"] = 1.5
        with pytest.raises(Refused, match=re.escape("error_rate_pct < 0.5 read 1.5")):
            await h.rollout.request_run(CHANNEL, "day2.1", "production", sam)
        view = await h.rollout.step_view(CHANNEL, "day2.1")
        assert view.lanes[0].lane.state is StepState.READY and view.lanes[0].approvals == []

    async def test_after_the_metrics_recover_a_new_approval_runs(self) -> None:
        h = await rechecked()
        fingerprint = await approved(h)
        h.checker.values["p95_latency_ms"] = 72.0
        with pytest.raises(Refused):
            await h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, fingerprint)
        h.checker.values["p95_latency_ms"] = 41.0
        fingerprint = await approved(h)
        result = await h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, fingerprint)
        assert result.lane.state is StepState.DONE

    async def test_a_passing_recheck_runs_as_before(self) -> None:
        h = await rechecked()
        fingerprint = await approved(h)
        result = await h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, fingerprint)
        assert result.lane.state is StepState.DONE
        assert [e for e in h.store.audit_rows if e.what == "approval withdrawn"] == []

    async def test_a_step_without_recheck_runs_as_before_whatever_the_metrics(self) -> None:
        h = await make()
        h.checker.values["error_rate_pct"] = 9.0
        fingerprint = await approved(h)
        result = await h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, fingerprint)
        assert result.lane.state is StepState.DONE

    async def test_a_staging_run_is_not_rechecked(self) -> None:
        h = await rechecked()
        h.checker.values["p95_latency_ms"] = 72.0
        result = await h.run_step("day1.1", "staging")
        assert result.lane.state is StepState.DONE
