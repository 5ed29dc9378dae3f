"""The prober itself: routing to loopback, refusals before any traffic, pacing and bounds."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import timedelta

import pytest

from bot.cloud.http_probe import (
    HostMapResolver,
    HttpProber,
    LoadLimits,
    LoadPlan,
    ProbeRefused,
    percentile,
    server_timing_ms,
)
from bot.engine.clock import SystemClock
from bot.sim.http_app import SimHttpApp

from .conftest import API_HOST, VirtualClock


def test_mapped_https_url_is_sent_as_http_to_the_same_host() -> None:
    prober = HttpProber(host_map={API_HOST: ("127.0.0.1", 8080)}, loopback_only=True)
    routed = prober.route(f"https://{API_HOST}/api/v2/health?x=1")
    assert str(routed) == f"http://{API_HOST}/api/v2/health?x=1"


def test_loopback_only_prober_refuses_an_unmapped_host_before_resolving_it() -> None:
    prober = HttpProber(host_map={API_HOST: ("127.0.0.1", 8080)}, loopback_only=True)
    with pytest.raises(ProbeRefused, match=r"refusing to send traffic to evil\.example"):
        prober.route("https://evil.example/api")


def test_loopback_only_prober_refuses_a_non_loopback_address_literal() -> None:
    prober = HttpProber(loopback_only=True)
    with pytest.raises(ProbeRefused, match=r"10\.1\.2\.3"):
        prober.route("http://10.1.2.3/api/v2/health")
    assert str(prober.route("http://127.0.0.1:9/x")) == "http://127.0.0.1:9/x"


def test_loopback_only_prober_refuses_a_host_map_that_points_off_the_machine() -> None:
    with pytest.raises(ProbeRefused, match="not a loopback address"):
        HttpProber(host_map={API_HOST: ("10.0.0.7", 443)}, loopback_only=True)


async def test_resolver_answers_mapped_hosts_and_refuses_the_rest_without_dns() -> None:
    resolver = HostMapResolver({API_HOST: ("127.0.0.1", 4321)}, loopback_only=True)
    [answer] = await resolver.resolve(API_HOST, 443, socket.AF_INET)
    assert (answer["host"], answer["port"]) == ("127.0.0.1", 4321)
    with pytest.raises(OSError, match="loopback-only"):
        await resolver.resolve("www.example.com", 80)
    await resolver.close()


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50.0, 95.0, 99.0)
    assert percentile([], 95) is None
    assert percentile([7.0], 99) == 7.0


def test_limits_scale_a_load_plan_down_and_say_what_they_reduced() -> None:
    asked = LoadPlan(rate_rps=5000, concurrency=500, duration=timedelta(hours=1), max_requests=100_000)
    plan, notes = asked.capped(LoadLimits(max_requests=2000, max_duration=timedelta(seconds=30)))
    assert plan == LoadPlan(5000, 500, timedelta(seconds=30), 2000)
    assert notes == ["duration 1h -> 30s", "requests 100000 -> 2000"]
    assert asked.capped(LoadLimits()) == (asked, [])


async def test_smoke_reaches_the_sim_app_under_the_runbook_host_name(
    sim_app: tuple[SimHttpApp, tuple[str, int]], prober: HttpProber
) -> None:
    app, _ = sim_app
    report = await prober.smoke(f"https://{API_HOST}/api/v2/health", 12, 4, timedelta(seconds=5))
    assert (report.count, report.errors, report.answered) == (12, 0, 12)
    assert report.statuses == {200: 12}
    # 4 untimed warm-up requests open the connections; the 12 measured ones follow
    assert app.served["/api/v2/health"] == 4 + 12
    assert app.hosts_seen[API_HOST] == 4 + 12


async def test_load_stops_at_its_request_cap(prober: HttpProber, clock: VirtualClock) -> None:
    report = await prober.load(
        f"https://{API_HOST}/api/v2/health", 1000, 8, timedelta(hours=1), max_requests=30, clock=clock
    )
    assert (report.count, report.stopped_by) == (30, "max_requests")
    assert len(clock.sleeps) == 29
    assert sum(clock.sleeps) == pytest.approx(29 / 1000)


async def test_load_stops_at_its_duration_paced_by_the_token_bucket(prober: HttpProber, clock: VirtualClock) -> None:
    report = await prober.load(
        f"https://{API_HOST}/api/v2/health", 50, 5, timedelta(seconds=1), max_requests=10_000, clock=clock
    )
    assert (report.count, report.stopped_by) == (50, "duration")
    assert report.duration_s == pytest.approx(1.0)
    assert report.throughput_rps == pytest.approx(50.0)
    assert clock.sleeps == [pytest.approx(0.02)] * 50


async def test_load_with_errors_counts_every_5xx(
    sim_app: tuple[SimHttpApp, tuple[str, int]], prober: HttpProber, clock: VirtualClock
) -> None:
    app, _ = sim_app
    app.error_rate_pct = 100.0
    report = await prober.load(f"http://{API_HOST}/api/v2/health", 100, 4, timedelta(seconds=1), 10, clock)
    assert (report.count, report.errors, report.error_rate_pct) == (10, 10, 100.0)
    assert report.first_error == "HTTP 503"


async def test_the_sim_app_can_serve_from_its_own_thread_so_the_callers_loop_never_delays_it() -> None:
    app = SimHttpApp(time_scale=0.0)
    host, port = await app.start(own_thread=True)
    try:
        own = HttpProber(host_map={API_HOST: (host, port)}, loopback_only=True)
        report = await own.smoke(f"https://{API_HOST}/api/v2/health", 20, 5, timedelta(seconds=5))
        await own.close()
        assert (report.count, report.errors) == (20, 0)
        assert app.served["/api/v2/health"] == 5 + 20
    finally:
        await app.stop()


def test_server_timing_gives_the_first_duration_or_none() -> None:
    assert server_timing_ms("app;dur=23.4") == 23.4
    assert server_timing_ms('cache;desc="hit", app;dur="7"') == 7.0
    assert server_timing_ms("app;desc=no-duration") is None
    assert server_timing_ms("app;dur=soon") is None
    assert server_timing_ms("") is None


async def test_a_prober_that_trusts_server_timing_measures_the_simulated_world_not_the_loopback(
    sim_app: tuple[SimHttpApp, tuple[str, int]],
) -> None:
    app, address = sim_app
    app.p95_ms = lambda: 400.0  # answers at once (time_scale 0), but the world says P95 400 ms
    trusting = HttpProber(host_map={API_HOST: address}, loopback_only=True, trust_server_timing=True)
    wall = HttpProber(host_map={API_HOST: address}, loopback_only=True, timer=lambda: 0.0)
    try:
        simulated = await trusting.smoke(f"https://{API_HOST}/api/v2/health", 50, 5, timedelta(seconds=5))
        measured = await wall.smoke(f"https://{API_HOST}/api/v2/health", 50, 5, timedelta(seconds=5))
    finally:
        await trusting.close()
        await wall.close()
    assert simulated.p95_ms is not None and simulated.p95_ms > 200
    assert measured.p95_ms == 0.0  # the default ignores the header and keeps its own timer


class _ThreadTimer:
    """A latency timer that notes which thread each request was timed on."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def __call__(self) -> float:
        self.threads.append(threading.current_thread())
        return time.perf_counter()


def _real_time_prober(address: tuple[str, int], timer: _ThreadTimer) -> HttpProber:
    return HttpProber(host_map={API_HOST: address}, loopback_only=True, timer=timer, trust_server_timing=True)


async def test_a_real_time_load_runs_on_a_loop_of_its_own_off_the_bots_loop(
    sim_app: tuple[SimHttpApp, tuple[str, int]],
) -> None:
    timer = _ThreadTimer()
    prober = _real_time_prober(sim_app[1], timer)
    report = await prober.load(
        f"https://{API_HOST}/api/v2/health", 2000, 4, timedelta(seconds=30), max_requests=12, clock=SystemClock()
    )
    assert (report.count, report.errors, report.stopped_by) == (12, 0, "max_requests")
    assert timer.threads and threading.main_thread() not in timer.threads


async def test_a_cancelled_real_time_load_stops_starting_requests(
    sim_app: tuple[SimHttpApp, tuple[str, int]],
) -> None:
    timer = _ThreadTimer()
    prober = _real_time_prober(sim_app[1], timer)
    running = asyncio.create_task(
        prober.load(f"http://{API_HOST}/api/v2/health", 200, 2, timedelta(hours=1), 1_000_000, SystemClock())
    )
    for _ in range(3000):  # until the worker thread has sent a few (30 s at most)
        if len(timer.threads) >= 4:
            break
        await asyncio.sleep(0.01)
    assert timer.threads, "the load never started"
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    seen, quiet = len(timer.threads), 0
    for _ in range(300):  # until no request has started for 0.3 s (30 s at most)
        await asyncio.sleep(0.1)
        quiet = quiet + 1 if len(timer.threads) == seen else 0
        seen = len(timer.threads)
        if quiet >= 3:
            break
    assert quiet >= 3 and seen < 2000  # the hour-long load (720,000 at 200 rps) ended with its cancellation
