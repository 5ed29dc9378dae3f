"""metric.gate, wait and manual: the kinds that check, soak or record, and change nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.actions import (
    http_load,
    http_smoke,
    manual,
    metric_gate,
    sql_benchmark,
    sql_execute,
    sql_query,
    wait,
)
from bot.engine.ports import Action, CheckResult
from bot.runbook.models import (
    HttpLoad,
    HttpSmoke,
    Manual,
    MetricGate,
    SqlBenchmark,
    SqlExecute,
    SqlQuery,
    Wait,
)
from bot.sim.http_app import SimHttpApp

from .conftest import Progress, ScriptedChecker, VirtualClock, binding, make_deps

ERROR_RATE = "error_rate_pct < 0.5 over 30m"


def gate(checker: ScriptedChecker, clock: VirtualClock) -> metric_gate.MetricGateAction:
    spec = MetricGate(kind="metric.gate", condition=ERROR_RATE)  # type: ignore[arg-type]
    return metric_gate.build(spec, binding("production"), make_deps(checker=checker, clock=clock))


class TestMetricGate:
    async def test_passes_on_a_passing_check_at_the_clock_s_now(self, clock: VirtualClock, progress: Progress) -> None:
        checker = ScriptedChecker({ERROR_RATE: CheckResult(ERROR_RATE, True, 0.21, 0.5, "mean over 30m")})
        action = gate(checker, clock)
        assert action.describe() == f"Check {ERROR_RATE} in production"
        [target] = action.targets()
        assert action.diff(target, await action.snapshot(target)) == []
        outcome = await action.apply(target, None, progress)
        assert outcome.ok and not outcome.changed
        assert outcome.message == f"gate passed: {ERROR_RATE} (value 0.21, threshold 0.5); mean over 30m"
        assert checker.calls == [(ERROR_RATE, "production", clock.now())]
        assert (await action.apply(target, None, progress)).ok
        assert (await action.revert(target, None, progress)).message.startswith("nothing to revert: Check")

    async def test_fails_with_the_figure_and_the_threshold(self, clock: VirtualClock) -> None:
        checker = ScriptedChecker({ERROR_RATE: CheckResult(ERROR_RATE, False, 1.7, 0.5, "")})
        outcome = await gate(checker, clock).apply(gate(checker, clock).target, None, Progress())
        assert not outcome.ok
        assert outcome.message == f"gate failed: {ERROR_RATE} (value 1.7, threshold 0.5)"
        assert outcome.data["value"] == 1.7 and outcome.data["threshold"] == 0.5

    async def test_no_data_is_not_a_pass(self, clock: VirtualClock) -> None:
        checker = ScriptedChecker({ERROR_RATE: CheckResult(ERROR_RATE, None, None, 0.5, "no points in the last 30m")})
        action = gate(checker, clock)
        outcome = await action.apply(action.target, None, Progress())
        assert not outcome.ok
        assert outcome.message == f"gate not passed: no data for {ERROR_RATE} in production; no points in the last 30m"
        assert (await action.verify(action.target)) == outcome


class TestWait:
    async def test_soaks_on_the_virtual_clock_and_says_how_long(self, clock: VirtualClock, progress: Progress) -> None:
        spec = Wait(kind="wait", duration=timedelta(minutes=30), reason="soak after the scale-down")
        action = wait.build(spec, binding("production"), make_deps(clock=clock))
        assert action.describe() == "Wait 30m in production (soak after the scale-down)"
        start = clock.now()
        outcome = await action.apply(action.target, None, progress)
        assert outcome.ok and not outcome.changed
        assert outcome.message == "waited 30m (soak after the scale-down)"
        assert clock.sleeps == [1800.0] and clock.now() - start == timedelta(minutes=30)
        # 14:30 UTC said in the run's zone (America/Chicago), like every other time the run shows
        assert progress.lines == ["waiting 30m, until 09:30 CDT (soak after the scale-down)"]
        assert (await action.revert(action.target, None, progress)).changed is False

    async def test_cancelling_the_wait_propagates_and_records_no_outcome(self, progress: Progress) -> None:
        class BlockingClock(VirtualClock):
            def __init__(self) -> None:
                super().__init__()
                self.sleeping = asyncio.Event()

            async def sleep(self, seconds: float) -> None:
                self.sleeping.set()
                await asyncio.Event().wait()

        clock = BlockingClock()
        action = wait.build(Wait(kind="wait", duration=timedelta(hours=1)), binding(), make_deps(clock=clock))
        task = asyncio.create_task(action.apply(action.target, None, progress))
        await clock.sleeping.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert action.last_outcome is None
        assert not (await action.verify(action.target)).ok


class TestManual:
    async def test_its_plan_line_says_who_presses_done_and_what_value_it_asks_for(self, progress: Progress) -> None:
        spec = Manual.model_validate(
            {
                "kind": "manual",
                "instruction": "Run the cache benchmark",
                "by": "member",
                "value": {"name": "hit_pct", "unit": "%"},
                "accept": "hit_pct > 65",
            }
        )
        action = manual.build(spec, binding("staging"), make_deps())
        assert action.mutating is False
        assert action.describe() == (
            "Manual in staging, Done by the member, with hit_pct (%, hit_pct > 65): Run the cache benchmark"
        )
        assert (await action.revert(action.target, None, progress)).changed is False

    def test_without_a_role_anyone_on_the_team_presses_done(self) -> None:
        spec = Manual(kind="manual", instruction="Deploy scaling-manager with gcloud run deploy")
        action = manual.build(spec, binding("production"), make_deps())
        assert action.describe() == (
            "Manual in production, Done by anyone on the team: Deploy scaling-manager with gcloud run deploy"
        )


def test_sim_latency_follows_the_p95_hook() -> None:
    current = {"p95": 80.0}
    app = SimHttpApp(p95_ms=lambda: current["p95"])
    draws = sorted(app.latency_ms() for _ in range(4000))
    assert draws[int(0.95 * len(draws))] == pytest.approx(80.0, rel=0.1)
    current["p95"] = 20.0
    draws = sorted(app.latency_ms() for _ in range(4000))
    assert draws[int(0.95 * len(draws))] == pytest.approx(20.0, rel=0.1)


def test_every_kind_here_satisfies_the_engine_s_action_protocol(clock: VirtualClock) -> None:
    deps = make_deps(clock=clock, checker=ScriptedChecker({}))
    specs_and_builders = [
        (HttpSmoke(kind="http.smoke", path="/api/v2/health", requests=1), http_smoke.build),
        (
            HttpLoad(kind="http.load", path="/", rate_rps=1, concurrency=1, duration="1m", max_requests=1),  # type: ignore[arg-type]
            http_load.build,
        ),
        (SqlQuery(kind="sql.query", sql="SELECT 1"), sql_query.build),
        (
            SqlExecute(kind="sql.execute", sql="CREATE TABLE t (x int)", revert_sql="DROP TABLE t"),
            sql_execute.build,
        ),
        (SqlBenchmark(kind="sql.benchmark", queries=["SELECT 1"]), sql_benchmark.build),
        (MetricGate(kind="metric.gate", condition=ERROR_RATE), metric_gate.build),  # type: ignore[arg-type]
        (Wait(kind="wait", duration=timedelta(minutes=1)), wait.build),
        (Manual(kind="manual", instruction="look at the dashboard"), manual.build),
    ]
    for spec, build in specs_and_builders:
        action = build(spec, binding(), deps)  # type: ignore[operator]
        assert isinstance(action, Action), spec.kind
        assert action.mutating is (spec.kind == "sql.execute")
        assert len(action.targets()) == 1
