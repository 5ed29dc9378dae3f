"""The backtest's history read through the real google-cloud-monitoring client, over gRPC, against the
local Monitoring facade: one call per metric per chunk, aligned at the poll interval, pages followed."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import grpc
from google.cloud.monitoring_v3 import MetricServiceAsyncClient
from google.cloud.monitoring_v3.services.metric_service.transports.grpc_asyncio import (
    MetricServiceGrpcAsyncIOTransport,
)

from bot.backtest.history import fetch
from bot.backtest.subjects import subjects
from bot.backtest.timeline import History
from bot.cloud.monitoring import CloudMonitoringSource
from bot.sim.metrics import SyntheticMetrics
from bot.sim.monitoring_facade import MonitoringFacade
from tests.triggers.builders import T0, seed_runbook

BOOK = seed_runbook(schedule={"daily_report_at": "17:00", "watch_interval": "2m"})
PRODUCTION = BOOK.environments[0]
START, END = T0 - timedelta(days=2), T0


async def test_each_metric_is_one_aligned_call_per_chunk_whatever_the_pages() -> None:
    facade = MonitoringFacade(BOOK, SyntheticMetrics(), points_per_series=400, max_page_size=2)
    channel = grpc.aio.insecure_channel(await facade.start())
    source = CloudMonitoringSource(
        MetricServiceAsyncClient(transport=MetricServiceGrpcAsyncIOTransport(channel=channel))
    )
    chosen, _ = subjects(BOOK, "production")
    try:
        fetched = await fetch(BOOK, source, chosen, PRODUCTION, START, END, chunk=timedelta(days=1))
    finally:
        await channel.close()
        await facade.stop()

    metrics = ["error_rate_pct", "p95_latency_ms", "cache_hit_rate_pct", "db_replication_lag_ms"]
    assert list(fetched.histories) == metrics  # incidents are the bot's own count, never read
    first_pages = [r for r in facade.requests if not r.page_token]
    follow_ups = [r for r in facade.requests if r.page_token]
    assert fetched.reads == len(first_pages) == len(metrics) * 3  # 2 days and the longest window, in 1-day chunks
    assert follow_ups  # a day of minutes does not fit in two series of 400 points: the pager asked again
    for request in facade.requests:
        assert request.aggregation.alignment_period == timedelta(minutes=2)  # the watcher's poll interval
        assert request.name == "projects/ion-mentoring"
    chunks = sorted({(r.interval.start_time, r.interval.end_time) for r in first_pages})
    assert chunks[0][0] == fetched.start == START - timedelta(minutes=8)  # for 5m needs 5m and three steps
    assert chunks[-1][1] == END
    assert all(b[0] == a[1] for a, b in pairwise(chunks))  # no minute read twice or missed
    p95 = BOOK.metric("p95_latency_ms")
    assert p95 is not None
    expected = History.of(await SyntheticMetrics().read(p95, PRODUCTION, fetched.start, END))
    assert fetched.histories["p95_latency_ms"].times.tolist() == expected.times.tolist()
    assert fetched.histories["p95_latency_ms"].values.tolist() == expected.values.tolist()
