"""http.smoke and http.load as the executor drives them: plan, apply, re-apply, revert, faults."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from bot.actions import http_load, http_smoke
from bot.cloud.http_probe import HttpProber, LoadLimits
from bot.engine.ports import ActionFailed
from bot.runbook.models import HttpLoad, HttpSmoke
from bot.sim.http_app import SimHttpApp

from .conftest import API_HOST, STAGING_HOST, Progress, VirtualClock, binding, make_deps

DAY_2_2 = HttpSmoke(kind="http.smoke", path="/api/v2/health", requests=100, max_p95_ms=50, max_error_rate_pct=0)
DAY_2_1 = HttpLoad(
    kind="http.load",
    path="/api/v2/health",
    rate_rps=5000,
    concurrency=500,
    duration=timedelta(hours=1),
    max_requests=100_000,
    max_p95_ms=50,
    max_error_rate_pct=0.5,
)


class SteppingTimer:
    """A latency timer that advances a fixed step per reading: with one request in flight, every
    request measures exactly one step."""

    def __init__(self, step_ms: float) -> None:
        self.step = step_ms / 1000.0
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class TestSmoke:
    async def test_plan_names_the_url_the_count_and_the_thresholds(self, prober: HttpProber) -> None:
        action = http_smoke.build(DAY_2_2, binding("production"), make_deps(http=prober))
        assert action.describe() == (
            f"Smoke test GET https://{API_HOST}/api/v2/health in production: 100 requests, 10 at a time; "
            "pass if error rate <= 0% and P95 <= 50 ms"
        )
        [target] = action.targets()
        assert action.diff(target, await action.snapshot(target)) == []
        assert action.mutating is False

    async def test_passes_against_a_healthy_service_and_reports_figures(
        self, prober: HttpProber, progress: Progress
    ) -> None:
        action = http_smoke.build(DAY_2_2, binding("production"), make_deps(http=prober))
        [target] = action.targets()
        outcome = await action.apply(target, None, progress)
        assert outcome.ok and not outcome.changed
        assert outcome.message.startswith("smoke test passed: 100 requests, 0 errors (0.00%), P50 ")
        assert outcome.data["requests"] == 100 and outcome.data["error_rate_pct"] == 0
        assert progress.lines == [f"smoke test: sending 100 requests to https://{API_HOST}/api/v2/health"]
        assert (await action.verify(target)) == outcome

    async def test_running_it_again_measures_again_and_changes_nothing(
        self, sim_app: tuple[SimHttpApp, tuple[str, int]], prober: HttpProber, progress: Progress
    ) -> None:
        app, _ = sim_app
        action = http_smoke.build(DAY_2_2, binding("production"), make_deps(http=prober))
        [target] = action.targets()
        first = await action.apply(target, None, progress)
        second = await action.apply(target, None, progress)
        assert first.ok and second.ok and not second.changed
        # each run: 10 untimed warm-up requests (one per connection), then the 100 measured ones
        assert app.served["/api/v2/health"] == 2 * (10 + 100)

    async def test_revert_says_there_is_nothing_to_revert(self, prober: HttpProber, progress: Progress) -> None:
        action = http_smoke.build(DAY_2_2, binding("production"), make_deps(http=prober))
        [target] = action.targets()
        outcome = await action.revert(target, None, progress)
        assert outcome.ok and not outcome.changed
        assert outcome.message.startswith("nothing to revert: Smoke test GET")

    async def test_injected_errors_fail_it_with_the_figures_and_the_threshold(
        self, sim_app: tuple[SimHttpApp, tuple[str, int]], prober: HttpProber, progress: Progress
    ) -> None:
        app, _ = sim_app
        app.error_rate_pct = 20.0
        action = http_smoke.build(DAY_2_2, binding("production"), make_deps(http=prober))
        [target] = action.targets()
        outcome = await action.apply(target, None, progress)
        errors = outcome.data["errors"]
        assert not outcome.ok and 0 < errors < 100
        assert outcome.message.startswith(f"smoke test failed: error rate {errors:.2f}% is above 0%")
        assert f"{errors} errors" in outcome.message and "limits: error rate <= 0% and P95 <= 50 ms" in outcome.message
        assert outcome.data["statuses"]["503"] == errors

    async def test_slow_answers_fail_it_on_p95(
        self, sim_app: tuple[SimHttpApp, tuple[str, int]], progress: Progress
    ) -> None:
        _, address = sim_app
        slow = HttpProber(host_map={API_HOST: address}, loopback_only=True, timer=SteppingTimer(60.0))
        spec = DAY_2_2.model_copy(update={"concurrency": 1, "requests": 20})
        action = http_smoke.build(spec, binding("production"), make_deps(http=slow))
        [target] = action.targets()
        outcome = await action.apply(target, None, progress)
        await slow.close()
        assert not outcome.ok
        assert outcome.data["p95_ms"] == pytest.approx(60.0)
        assert "P95 60.0 ms is above 50 ms" in outcome.message

    async def test_an_unreachable_service_raises_a_sentence(self, progress: Progress) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            closed_port = sock.getsockname()[1]
        prober = HttpProber(host_map={API_HOST: ("127.0.0.1", closed_port)}, loopback_only=True)
        action = http_smoke.build(
            DAY_2_2.model_copy(update={"requests": 3}), binding("production"), make_deps(http=prober)
        )
        [target] = action.targets()
        with pytest.raises(
            ActionFailed, match=r"could not reach https://api\.ion-mentoring\.dev/api/v2/health: none of 3"
        ) as err:
            await action.apply(target, None, progress)
        await prober.close()
        assert err.value.retryable and "Check that the service is up" in err.value.message

    async def test_refuses_a_full_url_on_a_host_the_environment_does_not_own(self, prober: HttpProber) -> None:
        spec = DAY_2_2.model_copy(update={"path": "https://evil.example/health"})
        action = http_smoke.build(spec, binding("production"), make_deps(http=prober))
        assert "(will be refused: refusing to smoke-test evil.example" in action.describe()
        with pytest.raises(
            ActionFailed, match=r"refusing to smoke-test evil\.example: not in production's allowed_hosts"
        ):
            await action.apply(action.targets()[0], None, Progress())


class TestLoad:
    async def test_plan_shows_the_runbook_bounds_and_the_configured_scale_down(self, prober: HttpProber) -> None:
        action = http_load.build(DAY_2_1, binding("staging"), make_deps(http=prober))
        assert action.describe() == (
            f"Load test GET https://{STAGING_HOST}/api/v2/health in staging: 5000 rps, 500 concurrent, "
            "for 1h or 40 requests, whichever comes first; pass if error rate <= 0.5% and P95 <= 50 ms "
            "(scaled down by the configured limits: requests 100000 -> 40)"
        )

    async def test_runs_bounded_by_the_cap_and_says_the_cap_reduced_it(
        self, prober: HttpProber, clock: VirtualClock, progress: Progress
    ) -> None:
        action = http_load.build(DAY_2_1, binding("staging"), make_deps(http=prober, clock=clock))
        [target] = action.targets()
        outcome = await action.apply(target, None, progress)
        assert outcome.ok and not outcome.changed
        assert outcome.data["requests"] == 40 and outcome.data["stopped_by"] == "max_requests"
        assert outcome.message.startswith("load test passed: 40 requests, 0 errors (0.00%), P50 ")
        assert (
            "stopped at the request cap; scaled down by the configured limits: requests 100000 -> 40" in outcome.message
        )
        for figure in ("p50_ms", "p95_ms", "p99_ms", "throughput_rps", "error_rate_pct"):
            assert figure in outcome.data
        again = await action.apply(target, None, progress)
        assert again.ok and again.data["requests"] == 40
        assert (await action.revert(target, None, progress)).changed is False

    async def test_runs_bounded_by_its_duration_on_the_virtual_clock(
        self, sim_app: tuple[SimHttpApp, tuple[str, int]], clock: VirtualClock, progress: Progress
    ) -> None:
        _, address = sim_app
        prober = HttpProber(
            host_map={STAGING_HOST: address},
            loopback_only=True,
            limits=LoadLimits(max_rate_rps=20, max_duration=timedelta(seconds=2)),
        )
        action = http_load.build(DAY_2_1, binding("staging"), make_deps(http=prober, clock=clock))
        outcome = await action.apply(action.targets()[0], None, progress)
        await prober.close()
        assert outcome.data["requests"] == 40 and outcome.data["stopped_by"] == "duration"
        assert outcome.data["throughput_rps"] == pytest.approx(20.0)
        assert (
            "stopped at the duration; scaled down by the configured limits: "
            "rate 5000 rps -> 20 rps, duration 1h -> 2s" in outcome.message
        )

    async def test_errors_above_the_limit_fail_it_with_figures(
        self, sim_app: tuple[SimHttpApp, tuple[str, int]], prober: HttpProber, clock: VirtualClock
    ) -> None:
        app, _ = sim_app
        app.error_rate_pct = 100.0
        action = http_load.build(DAY_2_1, binding("staging"), make_deps(http=prober, clock=clock))
        outcome = await action.apply(action.targets()[0], None, Progress())
        assert not outcome.ok
        assert outcome.message.startswith("load test failed: error rate 100.00% is above 0.5% (40 requests, 40 errors")

    async def test_refuses_a_host_not_on_the_allow_list_and_sends_nothing(
        self, sim_app: tuple[SimHttpApp, tuple[str, int]], prober: HttpProber
    ) -> None:
        app, _ = sim_app
        spec = DAY_2_1.model_copy(update={"path": "https://evil.example/api/v2/health"})
        action = http_load.build(spec, binding("production"), make_deps(http=prober))
        with pytest.raises(ActionFailed) as err:
            await action.apply(action.targets()[0], None, Progress())
        assert err.value.message.startswith(
            f"refusing to load-test evil.example: not in production's allowed_hosts ({API_HOST}); nothing was sent."
        )
        assert sum(app.served.values()) == 0

    async def test_load_testing_needs_an_explicit_allow_list_not_just_a_base_url(self, prober: HttpProber) -> None:
        action = http_load.build(DAY_2_1, binding("production", allowed_hosts=[]), make_deps(http=prober))
        with pytest.raises(
            ActionFailed,
            match=r"refusing to load-test api\.ion-mentoring\.dev: "
            r"not in production's allowed_hosts \(none\)",
        ):
            await action.apply(action.targets()[0], None, Progress())

    async def test_a_loopback_only_prober_refuses_an_allowed_but_unmapped_host(self, clock: VirtualClock) -> None:
        prober = HttpProber(loopback_only=True)
        action = http_load.build(DAY_2_1, binding("staging"), make_deps(http=prober, clock=clock))
        with pytest.raises(
            ActionFailed,
            match=r"loopback-only and staging\.ion-mentoring\.dev is not in its host_map; nothing was sent",
        ):
            await action.apply(action.targets()[0], None, Progress())


class TestStatedDurations:
    """The seed's "quick smoke test (10 minutes)" and "load test (1 hour)" run for that long when the
    runbook asks (``duration`` on a smoke test, ``hold`` on a load test); configured limits still cap them."""

    @staticmethod
    def prober_for(sim_app: tuple[SimHttpApp, tuple[str, int]], limits: LoadLimits) -> HttpProber:
        _, address = sim_app
        return HttpProber(
            host_map={API_HOST: address, STAGING_HOST: address},
            loopback_only=True,
            limits=limits,
            trust_server_timing=True,
        )

    async def test_a_ten_minute_smoke_test_spreads_its_100_requests_over_ten_minutes_of_the_virtual_clock(
        self, sim_app: tuple[SimHttpApp, tuple[str, int]], clock: VirtualClock, progress: Progress
    ) -> None:
        prober = self.prober_for(sim_app, LoadLimits())
        spec = DAY_2_2.model_copy(update={"duration": timedelta(minutes=10)})
        action = http_smoke.build(spec, binding("production"), make_deps(http=prober, clock=clock))
        assert "100 requests over 10m, 10 at a time" in action.describe()
        began = clock.now()
        outcome = await action.apply(action.targets()[0], None, progress)
        await prober.close()
        assert outcome.ok, outcome.message
        assert outcome.data["requests"] == 100
        assert timedelta(minutes=9, seconds=50) <= clock.now() - began <= timedelta(minutes=10)
        assert "(over 10m; limits: error rate <= 0% and P95 <= 50 ms)" in outcome.message
        assert progress.lines == [f"smoke test: 100 requests to https://{API_HOST}/api/v2/health over 10m"]

    async def test_the_simulations_cap_shortens_a_timed_smoke_test_but_still_sends_every_request(
        self, sim_app: tuple[SimHttpApp, tuple[str, int]], clock: VirtualClock, progress: Progress
    ) -> None:
        prober = self.prober_for(sim_app, LoadLimits(max_duration=timedelta(seconds=30), max_rate_rps=2000))
        spec = DAY_2_2.model_copy(update={"duration": timedelta(minutes=10)})
        action = http_smoke.build(spec, binding("production"), make_deps(http=prober, clock=clock))
        began = clock.now()
        outcome = await action.apply(action.targets()[0], None, progress)
        await prober.close()
        assert outcome.ok and outcome.data["requests"] == 100
        assert clock.now() - began <= timedelta(seconds=30)
        assert "scaled down by the configured limits: duration 600s -> 30s" in outcome.message

    async def test_a_held_load_test_runs_its_whole_duration_instead_of_stopping_at_its_request_count(
        self, sim_app: tuple[SimHttpApp, tuple[str, int]], clock: VirtualClock, progress: Progress
    ) -> None:
        limits = LoadLimits(max_rate_rps=20, max_duration=timedelta(seconds=2))
        spec = DAY_2_1.model_copy(update={"max_requests": 10})
        counted = []
        for hold in (False, True):
            prober = self.prober_for(sim_app, limits)
            held = spec.model_copy(update={"hold": hold})
            action = http_load.build(held, binding("staging"), make_deps(http=prober, clock=clock))
            outcome = await action.apply(action.targets()[0], None, progress)
            await prober.close()
            counted.append((outcome.data["requests"], outcome.data["stopped_by"]))
        assert counted == [(10, "max_requests"), (40, "duration")]
