"""The post-deployment verification window is watched every watch interval on the virtual clock:
the first breach fails the step there and then, a clean window passes at its end, and missing
data is never a pass."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.engine.clock import VirtualClock
from bot.engine.evaluator import MetricsChecker
from bot.engine.executor import ExecutionResult
from bot.engine.ports import Point, Series
from bot.engine.records import ExecutionState, StepState
from bot.engine.rollout import Rollout
from bot.runbook.models import Environment, Metric, Runbook
from tests.engine.fakes import FakeActions, FakeNotifier, FakeStore, World
from tests.engine.harness import CHANNEL, POLICY, RUNBOOK, START, lee, sam

QUERY = {"filter": 'metric.type="run.googleapis.com/request_latencies"', "aligner": "ALIGN_PERCENTILE_95"}
# Minutes since the step started -> the metric's value then (None: no point, a gap).
Script = Callable[[float], float | None]


def healthy_p95(minute: float) -> float | None:
    return 36.0


def watched_runbook(conditions: list[str]) -> Runbook:
    """The engine tests' runbook plus a metric catalogue and a day-2 step with a 30-minute window."""
    data: dict[str, Any] = copy.deepcopy(RUNBOOK)
    data["metrics"] = [
        {"id": "p95_latency_ms", "title": "P95", "unit": "ms", "query": QUERY, "baseline": 36.4},
        {"id": "error_rate_pct", "title": "Errors", "unit": "pct", "query": QUERY, "baseline": 0.2},
    ]
    data["days"][1]["steps"].append(
        {
            "id": "day2.4",
            "title": "Scale and watch",
            "actions": [{"kind": "cloud_run.scale", "service": "api", "max_instances": 80}],
            "verification": {"window": "30m", "conditions": conditions},
        }
    )
    return Runbook.model_validate(data)


class ScriptedMetrics:
    """One point a minute on the virtual clock, each metric's value given by a script of minutes."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.origin: datetime | None = None  # set when the step starts: minute 0

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        assert self.origin is not None
        script = self.scripts.get(metric.id, lambda minute: None)
        points: list[Point] = []
        at = start.replace(second=0, microsecond=0)
        while at <= end:
            value = script((at - self.origin).total_seconds() / 60)
            if value is not None and at >= start:
                points.append(Point(at, value))
            at += timedelta(minutes=1)
        return Series(metric.id, tuple(points), 60.0)


class Watched:
    def __init__(self, conditions: list[str], scripts: dict[str, Script]) -> None:
        self.clock = VirtualClock(datetime(2026, 10, 30, 14, 0, tzinfo=UTC))  # day 2, 09:00 in Chicago
        self.metrics = ScriptedMetrics(scripts)
        self.store = FakeStore()
        self.notifier = FakeNotifier()
        rb = watched_runbook(conditions)
        checker = MetricsChecker(self.metrics, rb)
        self.rollout = Rollout(rb, self.store, FakeActions(World()), checker, self.notifier, self.clock, POLICY)

    async def run(self) -> ExecutionResult:
        """Start day2.4 in production, move the clock 40 minutes on, and return how it ended."""
        await self.rollout.start_run(CHANNEL, START, lee)
        plan = await self.rollout.request_run(CHANNEL, "day2.4", "production", sam)
        await self.rollout.approve(CHANNEL, "day2.4", "production", lee)
        self.metrics.origin = self.clock.now()
        started = await self.rollout.start_execution(CHANNEL, "day2.4", "production", sam, plan.fingerprint)
        await self.clock.advance(timedelta(minutes=40))
        assert started.task.done(), "the step was still verifying 40 minutes after it started"
        return started.task.result()

    def minutes_taken(self, result: ExecutionResult) -> float:
        assert self.metrics.origin is not None and result.execution.finished_at is not None
        return (result.execution.finished_at - self.metrics.origin).total_seconds() / 60


class TestABreachFailsTheStepWhenItHappens:
    async def test_a_breach_at_minute_five_that_recovers_fails_the_step_at_minute_five(self) -> None:
        w = Watched(
            ["p95_latency_ms < 50", "error_rate_pct < 0.5"],
            {"p95_latency_ms": lambda m: 180.0 if 5 <= m < 8 else 36.0, "error_rate_pct": lambda m: 0.2},
        )
        result = await w.run()
        assert not result.ok and result.lane.state is StepState.FAILED
        assert w.minutes_taken(result) == 5
        assert (
            "'p95_latency_ms < 50' does not hold 5m into the 30m verification window: "
            "p95_latency_ms is 180 (< 50: no)." in result.message
        )
        assert "api us-central1 (production): max_instances 80 -> 100" in result.message
        assert result.execution.state is ExecutionState.FAILED

    async def test_a_clean_window_passes_at_minute_thirty(self) -> None:
        w = Watched(["p95_latency_ms < 50"], {"p95_latency_ms": healthy_p95})
        result = await w.run()
        assert result.ok and result.lane.state is StepState.DONE
        assert w.minutes_taken(result) == 30
        assert any("p95_latency_ms < 50: held for the 30m window" in t for t in w.notifier.texts())

    async def test_the_lease_is_renewed_throughout_the_window(self) -> None:
        w = Watched(["p95_latency_ms < 50"], {"p95_latency_ms": healthy_p95})
        result = await w.run()
        assert w.metrics.origin is not None
        beats = sorted(at for execution_id, _, at in w.store.heartbeats if execution_id == result.execution.id)
        gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
        assert beats[-1] - w.metrics.origin >= timedelta(minutes=29)
        assert max(gaps) <= timedelta(seconds=40)

    async def test_a_condition_with_for_fails_only_once_the_breach_has_lasted_that_long(self) -> None:
        def errors(minute: float) -> float:
            if 4 <= minute < 6:  # a two-minute spike: shorter than the 3m the condition asks for
                return 2.5
            return 2.5 if minute >= 10 else 0.2

        w = Watched(["error_rate_pct < 1 for 3m"], {"error_rate_pct": errors})
        result = await w.run()
        assert not result.ok and w.minutes_taken(result) == 13
        assert "'error_rate_pct < 1 for 3m' does not hold 13m into the 30m verification window: " in result.message
        assert "error_rate_pct >= 1 at every point for 3m" in result.message


class TestMissingDataIsNeverAPass:
    async def test_a_window_without_any_data_fails_at_its_end_saying_so(self) -> None:
        w = Watched(["p95_latency_ms < 50"], {})
        result = await w.run()
        assert not result.ok and w.minutes_taken(result) == 30
        assert (
            "Could not confirm 'p95_latency_ms < 50': there was no data for it during the whole 30m "
            "verification window" in result.message
        )

    async def test_a_gap_in_the_middle_is_no_breach_and_the_window_passes(self) -> None:
        w = Watched(["p95_latency_ms < 50"], {"p95_latency_ms": lambda m: None if 10 <= m < 16 else 36.0})
        result = await w.run()
        assert result.ok and w.minutes_taken(result) == 30

    async def test_data_that_stops_before_the_end_fails_the_window(self) -> None:
        w = Watched(["p95_latency_ms < 50"], {"p95_latency_ms": lambda m: 36.0 if m < 20 else None})
        result = await w.run()
        assert not result.ok and w.minutes_taken(result) == 30
        assert "Could not confirm 'p95_latency_ms < 50' at the end of the 30m verification window" in result.message


class TestTheWindowStartsWhenTheChangeLanded:
    """Issue 15: a window condition never reads metrics from before the change landed."""

    @staticmethod
    def bad_before_the_change(minute: float) -> float | None:
        return 180.0 if minute < 0 else 36.0

    async def test_a_verification_window_begins_at_landing_not_thirty_minutes_before(self) -> None:
        w = Watched(["p95_latency_ms < 50 over 10m"], {"p95_latency_ms": self.bad_before_the_change})
        result = await w.run()
        assert result.ok and result.lane.state is StepState.DONE, result.message
        assert w.minutes_taken(result) == 30
        assert any("windows read from the landing at" in t for t in w.notifier.texts())

    async def test_an_acceptance_window_longer_than_the_watch_waits_for_the_landing_plus_its_length(self) -> None:
        w = Watched(["p95_latency_ms < 50"], {"p95_latency_ms": self.bad_before_the_change})
        rb = watched_runbook(["p95_latency_ms < 50"])
        data = rb.model_dump(mode="json", by_alias=True, exclude_none=True)
        data["days"][1]["steps"][-1]["acceptance"] = ["p95_latency_ms < 50 over 45m"]
        rb = Runbook.model_validate(data)
        checker = MetricsChecker(w.metrics, rb)
        w.rollout = Rollout(rb, w.store, FakeActions(World()), checker, w.notifier, w.clock, POLICY)
        await w.rollout.start_run(CHANNEL, START, lee)
        plan = await w.rollout.request_run(CHANNEL, "day2.4", "production", sam)
        await w.rollout.approve(CHANNEL, "day2.4", "production", lee)
        w.metrics.origin = w.clock.now()
        started = await w.rollout.start_execution(CHANNEL, "day2.4", "production", sam, plan.fingerprint)
        await w.clock.advance(timedelta(minutes=40))
        assert not started.task.done(), "the 45-minute acceptance window was read before 45 minutes had passed"
        await w.clock.advance(timedelta(minutes=10))
        result = started.task.result()
        assert result.ok, result.message
        assert w.minutes_taken(result) == 45
        assert any("its 45m window starts when the change landed" in t for t in w.notifier.texts())
