"""Backtesting four weeks of week17's metrics: the history read through the real Cloud Monitoring
client (gRPC, against the local Monitoring facade serving the sim's synthetic history with its
faults), then every condition replayed through the watcher's rules. The issue's target: under 5 s
for the replay of about ten conditions in three regions, after the data is fetched.

There is one metric series per environment in the sim, so "three regions" replays the fetched
production history three times over: the replay's cost depends on the number of points and polls,
not on their values.

    .venv/bin/python bench/backtest.py [--weeks 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import grpc
from _common import RUNBOOK, Figure, bench_main, print_report
from google.cloud.monitoring_v3 import MetricServiceAsyncClient
from google.cloud.monitoring_v3.services.metric_service.transports.grpc_asyncio import (
    MetricServiceGrpcAsyncIOTransport,
)

from bot.backtest.history import fetch
from bot.backtest.run import backtest
from bot.backtest.service import period
from bot.backtest.subjects import subjects
from bot.cloud.monitoring import CloudMonitoringSource
from bot.runbook.loader import load_runbook
from bot.sim.history import PastFaults, demo_faults
from bot.sim.metrics import StaticWorld, SyntheticMetrics
from bot.sim.monitoring_facade import MonitoringFacade

TITLE = "Backtest: four weeks of week17's metrics, replayed"
NOW = datetime(2026, 11, 16, 13, 0, tzinfo=UTC)  # a Monday, 07:00 in Chicago: the week17 run's eve
REGIONS = 3
TARGET_SECONDS = 5.0


async def run(args: argparse.Namespace) -> None:
    runbook = load_runbook(RUNBOOK)
    zone = ZoneInfo(runbook.calendar.timezone)
    history = SyntheticMetrics(StaticWorld(), PastFaults(demo_faults(NOW, zone)))
    facade = MonitoringFacade(runbook, history, points_per_series=2000, max_page_size=3)
    production = runbook.environment("production")
    assert production is not None
    start, end = period(runbook, args.weeks, NOW)
    chosen, _ = subjects(runbook, "production")
    channel = grpc.aio.insecure_channel(await facade.start())
    try:
        source = CloudMonitoringSource(
            MetricServiceAsyncClient(transport=MetricServiceGrpcAsyncIOTransport(channel=channel))
        )
        began = time.perf_counter()
        fetched = await fetch(runbook, source, chosen, production, start, end)
        fetch_seconds = time.perf_counter() - began
    finally:
        await channel.close()
        await facade.stop()
    first_pages = sum(1 for r in facade.requests if not r.page_token)
    began = time.perf_counter()
    for _ in range(REGIONS):
        result = backtest(runbook, chosen, fetched.histories, "production", start, end)
    replay_seconds = time.perf_counter() - began
    triggers = sum(1 for line in result.lines if line.subject.alerting)
    figures = [
        Figure("weeks of history", f"{args.weeks:g}"),
        Figure(
            "conditions replayed (triggers and rollback_if / gate and acceptance)",
            f"{len(result.lines)} ({triggers} / {len(result.lines) - triggers})",
        ),
        Figure("metrics read", str(len(fetched.histories))),
        Figure("points fetched", str(fetched.points)),
        Figure(
            "ListTimeSeries calls (one per metric per week-long chunk)",
            str(first_pages),
            f"{fetched.reads} (metrics x chunks)",
            first_pages == fetched.reads,
        ),
        Figure("ListTimeSeries requests, pages followed (2,000-point series, 3 a page)", str(len(facade.requests))),
        Figure("fetch through the gRPC facade", f"{fetch_seconds:.1f} s"),
        Figure(
            f"replay, {REGIONS} regions' worth",
            f"{replay_seconds:.2f} s",
            f"< {TARGET_SECONDS:g} s",
            replay_seconds < TARGET_SECONDS,
        ),
        Figure("replay per region", f"{replay_seconds / REGIONS:.2f} s"),
        Figure("red lines (the demo history's faults)", str(len(result.red()))),
    ]
    notes = ["The replay includes the threshold suggestions, each checked by replaying the suggested condition."]
    print_report(TITLE, figures, notes)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weeks", type=float, default=4.0, help="weeks of history (default 4)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(bench_main(TITLE, run(parse(sys.argv[1:]))))
