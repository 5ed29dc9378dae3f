"""One trigger-watch cycle over all of week17's rollback triggers, through the real Cloud Monitoring
client, against the local Monitoring facade. The watch runs every minute for ten days, so it must
make one ListTimeSeries call per metric (not one per trigger, ratio part or point) and be quick.

The real ``CloudMonitoringSource`` talks gRPC (``grpc.aio.insecure_channel``) to a
``MonitoringFacade`` serving ``SyntheticMetrics`` on 127.0.0.1; alerts live in a real SQLite store.

    .venv/bin/python bench/watch_cycle.py [--cycles K]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from _common import RUNBOOK, BenchError, Figure, bench_main, median, ms, print_report
from google.cloud.monitoring_v3 import MetricServiceAsyncClient
from google.cloud.monitoring_v3.services.metric_service.transports.grpc_asyncio import (
    MetricServiceGrpcAsyncIOTransport,
)

from bot.bootstrap import EventBus, OpenIncidents
from bot.cloud.monitoring import CloudMonitoringSource
from bot.engine.clock import VirtualClock
from bot.engine.ports import AlertRecord
from bot.engine.watch import Watcher
from bot.runbook.loader import load_runbook
from bot.runbook.models import Runbook
from bot.sim.metrics import SyntheticMetrics
from bot.sim.monitoring_facade import MonitoringFacade
from bot.store.repository import SqlStore
from bot.store.schema import ensure_schema

TITLE = "Watch cycle: week17's triggers through the real Monitoring client"
START = datetime(2026, 11, 17, 20, 0, tzinfo=UTC)  # a Tuesday, 14:00 in Chicago: business-hours traffic
RUN_ID, CHANNEL = "bench-run", "C_BENCH"


def watched_metrics(runbook: Runbook) -> list[tuple[str, str]]:
    """Each (metric, environment) the triggers watch and Cloud Monitoring serves; incidents need no call."""
    pairs = {(t.condition.metric, t.environment) for t in runbook.triggers}
    return sorted(
        (metric_id, environment)
        for metric_id, environment in pairs
        if (metric := runbook.metric(metric_id)) is not None and metric.source == "monitoring"
    )


async def no_rollback(alert: AlertRecord) -> str:
    raise BenchError(f"the healthy synthetic week raised alert {alert.trigger_id}, so the cycle was not a normal one.")


async def run(args: argparse.Namespace) -> None:
    runbook = load_runbook(RUNBOOK)
    workdir = Path(tempfile.mkdtemp(prefix="ionbench-watch-"))
    url = f"sqlite+aiosqlite:///{workdir}/ion.db"
    clock = VirtualClock(START)
    facade = MonitoringFacade(runbook, SyntheticMetrics())
    try:
        await ensure_schema(url)
        store = SqlStore.open(url, clock=clock)
        channel = grpc.aio.insecure_channel(await facade.start())
        try:
            client = MetricServiceAsyncClient(transport=MetricServiceGrpcAsyncIOTransport(channel=channel))
            source = CloudMonitoringSource(client)
            watcher = Watcher(runbook, source, store, EventBus(), clock, no_rollback, OpenIncidents(store))
            first, times, calls = await cycles(watcher, facade, clock, args.cycles)
        finally:
            await channel.close()
            await store.close()
    finally:
        await facade.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    metrics = len(watched_metrics(runbook))
    per_cycle = sorted(set(calls))
    shown = str(per_cycle[0]) if len(per_cycle) == 1 else f"{min(calls)}-{max(calls)}"
    figures = [
        Figure("triggers watched", str(len(runbook.triggers))),
        Figure("Monitoring metrics watched", str(metrics)),
        Figure("ListTimeSeries calls per cycle", shown, f"{metrics} (one per metric)", per_cycle == [metrics]),
        Figure("cycles timed", str(len(times))),
        Figure("first cycle (opens the channel)", ms(first)),
        Figure("cycle min", ms(min(times))),
        Figure("cycle median", ms(median(times))),
        Figure("cycle max", ms(max(times))),
    ]
    notes = ["Each cycle moves the virtual clock one minute (the runbook's watch_interval is 60s)."]
    print_report(TITLE, figures, notes)


async def cycles(
    watcher: Watcher, facade: MonitoringFacade, clock: VirtualClock, count: int
) -> tuple[float, list[float], list[int]]:
    """The first cycle's time, then the time and the ListTimeSeries count of each of ``count`` more."""
    began = time.perf_counter()
    await watcher.poll(RUN_ID, CHANNEL, None)
    first = time.perf_counter() - began
    times: list[float] = []
    calls: list[int] = []
    for _ in range(count):
        await clock.advance(timedelta(minutes=1))
        before = len(facade.requests)
        began = time.perf_counter()
        changes = await watcher.poll(RUN_ID, CHANNEL, None)
        times.append(time.perf_counter() - began)
        calls.append(len(facade.requests) - before)
        if changes:
            raise BenchError(
                f"a healthy cycle changed alerts ({[c.kind for c in changes]}); the figures would mislead."
            )
    return first, times, calls


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100, help="timed cycles after the first (default 100)")
    args = parser.parse_args(argv)
    if args.cycles < 1:
        parser.error("--cycles must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(bench_main(TITLE, run(parse(sys.argv[1:]))))
