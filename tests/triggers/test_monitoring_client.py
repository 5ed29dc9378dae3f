"""The real google-cloud-monitoring async client, over gRPC, against the local Monitoring facade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.cloud.monitoring_v3 import ListTimeSeriesRequest, MetricServiceAsyncClient
from google.cloud.monitoring_v3.services.metric_service.transports.grpc_asyncio import (
    MetricServiceGrpcAsyncIOTransport,
)

from bot.cloud.monitoring import CloudMonitoringSource, MetricsUnavailable
from bot.engine.clock import VirtualClock
from bot.engine.watch import Watcher
from bot.runbook.loader import load_runbook
from bot.runbook.models import Metric, Runbook
from bot.sim.faults import FaultPlan
from bot.sim.metrics import SyntheticMetrics
from bot.sim.monitoring_facade import MonitoringFacade
from tests.triggers.builders import (
    RUN_START,
    T0,
    AlertIncidents,
    InMemoryAlerts,
    RecordingNotifier,
    seed_runbook,
)

RUNBOOK = seed_runbook()
PRODUCTION = RUNBOOK.environments[0]
WEEK17 = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"
START, END = T0 - timedelta(minutes=10), T0


def metric(metric_id: str, runbook: Runbook = RUNBOOK) -> Metric:
    found = runbook.metric(metric_id)
    assert found is not None
    return found


async def client_for(facade: MonitoringFacade) -> tuple[CloudMonitoringSource, grpc.aio.Channel]:
    channel = grpc.aio.insecure_channel(await facade.start())
    client = MetricServiceAsyncClient(transport=MetricServiceGrpcAsyncIOTransport(channel=channel))
    return CloudMonitoringSource(client), channel


@pytest.fixture
async def facade() -> AsyncIterator[MonitoringFacade]:
    served = MonitoringFacade(RUNBOOK, SyntheticMetrics())
    yield served
    await served.stop()


async def test_sends_one_aligned_and_reduced_request_per_query(facade: MonitoringFacade) -> None:
    source, channel = await client_for(facade)
    p95 = metric("p95_latency_ms")
    got = await source.read(p95, PRODUCTION, START, END)
    await channel.close()

    [request] = facade.requests
    assert p95.query is not None
    assert request.name == "projects/ion-mentoring"
    assert request.filter == p95.query.filter
    assert request.interval.start_time == START and request.interval.end_time == END
    aggregation = request.aggregation
    assert aggregation.alignment_period == timedelta(seconds=60)
    assert aggregation.per_series_aligner.name == "ALIGN_PERCENTILE_95"
    assert aggregation.cross_series_reducer.name == "REDUCE_PERCENTILE_95"
    assert request.view == ListTimeSeriesRequest.TimeSeriesView.FULL
    expected = await SyntheticMetrics().read(p95, PRODUCTION, START, END)
    assert got.points == expected.points  # oldest first, same minutes, same values
    assert got.step_seconds == 60.0


async def test_ratio_metric_is_two_calls_combined_point_by_point(facade: MonitoringFacade) -> None:
    source, channel = await client_for(facade)
    error_rate = metric("error_rate_pct")
    got = await source.read(error_rate, PRODUCTION, START, END)
    await channel.close()

    assert error_rate.numerator is not None and error_rate.denominator is not None
    sent = {r.filter: r for r in facade.requests}
    assert set(sent) == {error_rate.numerator.filter, error_rate.denominator.filter}
    numerator = sent[error_rate.numerator.filter].aggregation
    assert numerator.per_series_aligner.name == "ALIGN_RATE"
    assert numerator.cross_series_reducer.name == "REDUCE_SUM"
    assert list(numerator.group_by_fields) == ["metric.labels.response_code_class"]
    expected = await SyntheticMetrics().read(error_rate, PRODUCTION, START, END)
    assert [p.at for p in got.points] == [p.at for p in expected.points]
    assert [p.value for p in got.points] == pytest.approx([p.value for p in expected.points])


async def test_inverted_ratio_reports_availability() -> None:
    availability = {
        "id": "availability_pct",
        "title": "Availability",
        "unit": "pct",
        "better": "higher",
        "numerator": {"filter": 'metric.type="x/errors"', "aligner": "ALIGN_DELTA", "reducer": "REDUCE_SUM"},
        "denominator": {
            "filter": 'metric.type="x/requests"',
            "aligner": "ALIGN_DELTA",
            "reducer": "REDUCE_SUM",
        },
        "invert_ratio": True,
        "baseline": 99.97,
    }
    runbook = seed_runbook(triggers=[])
    runbook = runbook.model_copy(update={"metrics": [*runbook.metrics, Metric.model_validate(availability)]})
    async with MonitoringFacade(runbook, SyntheticMetrics()) as facade:
        source, channel = await client_for(facade)
        got = await source.read(metric("availability_pct", runbook), PRODUCTION, START, END)
        await channel.close()
    assert len(got.points) == 11
    assert all(99.9 < p.value <= 100.0 for p in got.points)


async def test_follows_page_tokens_across_split_series() -> None:
    async with MonitoringFacade(RUNBOOK, SyntheticMetrics(), points_per_series=3, max_page_size=1) as facade:
        source, channel = await client_for(facade)
        got = await source.read(metric("db_replication_lag_ms"), PRODUCTION, START, END)
        await channel.close()
    tokens = [r.page_token for r in facade.requests]
    assert tokens == ["", "1", "2", "3"]  # 11 points in 4 series, one series per page
    expected = await SyntheticMetrics().read(metric("db_replication_lag_ms"), PRODUCTION, START, END)
    assert got.points == expected.points


async def test_reads_int64_and_distribution_points() -> None:
    kinds = {"p95_latency_ms": "distribution", "cache_hit_rate_pct": "int64"}
    async with MonitoringFacade(RUNBOOK, SyntheticMetrics(), point_kinds=kinds) as facade:  # type: ignore[arg-type]
        source, channel = await client_for(facade)
        latency = await source.read(metric("p95_latency_ms"), PRODUCTION, START, END)
        hits = await source.read(metric("cache_hit_rate_pct"), PRODUCTION, START, END)
        await channel.close()
    assert all(30 < p.value < 50 for p in latency.points)  # the distribution's mean
    assert all(p.value.is_integer() and 80 <= p.value <= 85 for p in hits.points)


async def test_a_refused_read_says_what_to_check() -> None:
    unknown = Metric.model_validate(
        {"id": "nope", "title": "Nope", "unit": "ms", "query": {"filter": 'metric.type="unknown"'}}
    )
    async with MonitoringFacade(RUNBOOK, SyntheticMetrics()) as facade:
        source, channel = await client_for(facade)
        with pytest.raises(MetricsUnavailable, match=r"nope in project ion-mentoring .*monitoring.viewer"):
            await source.read(unknown, PRODUCTION, START, END)
        await channel.close()


async def test_one_poll_of_the_seed_triggers_makes_one_call_per_metric_query(
    facade: MonitoringFacade,
) -> None:
    source, channel = await client_for(facade)
    alerts = InMemoryAlerts()
    watcher = Watcher(
        RUNBOOK,
        source,
        alerts,
        RecordingNotifier(),
        VirtualClock(T0),
        _never_roll_back,
        AlertIncidents(alerts),
    )
    await watcher.poll("r1", "C1", None)
    await channel.close()

    queries = [
        q.filter
        for m in RUNBOOK.metrics
        if m.id in {t.condition.metric for t in RUNBOOK.triggers}
        for q in (m.query, m.numerator, m.denominator)
        if q is not None
    ]
    assert sorted(r.filter for r in facade.requests) == sorted(queries)
    assert len(facade.requests) == 5  # error rate (2), p95, cache hit rate, replication lag; incidents: none
    assert alerts.by_id == {}  # a healthy production raises nothing


async def test_a_fault_served_over_grpc_opens_the_alert_after_the_window() -> None:
    plan = FaultPlan(["error_rate_pct 4 from day2 14:00 for 30m"], run_start=RUN_START, calendar=RUNBOOK.calendar)
    async with MonitoringFacade(RUNBOOK, SyntheticMetrics(faults=plan)) as facade:
        source, channel = await client_for(facade)
        alerts = InMemoryAlerts()
        clock = VirtualClock(T0 + timedelta(minutes=4))
        watcher = Watcher(RUNBOOK, source, alerts, RecordingNotifier(), clock, _never_roll_back, AlertIncidents(alerts))
        assert await watcher.poll("r1", "C1", "day2.1") == []
        await clock.advance(timedelta(minutes=1))
        [change] = await watcher.poll("r1", "C1", "day2.1")
        await channel.close()
    assert change.kind == "opened" and change.alert.trigger_id == "error_rate"
    assert change.alert.value == pytest.approx(4.0)


async def _never_roll_back(alert: object) -> str:
    raise AssertionError("a healthy poll must not roll back")


async def test_the_week17_runbook_polls_healthy_with_one_call_per_query() -> None:
    path = WEEK17
    if not path.exists():
        pytest.skip("runbooks/week17.yaml is not written yet")
    runbook = load_runbook(path)
    async with MonitoringFacade(runbook, SyntheticMetrics()) as facade:
        source, channel = await client_for(facade)
        alerts = InMemoryAlerts()
        watcher = Watcher(
            runbook,
            source,
            alerts,
            RecordingNotifier(),
            VirtualClock(T0),
            _never_roll_back,
            AlertIncidents(alerts),
        )
        changes = await watcher.poll("r1", "C1", None)
        await channel.close()
    used = {t.condition.metric for t in runbook.triggers}
    queries = [
        q.filter
        for m in runbook.metrics
        if m.id in used
        for q in (m.query, m.numerator, m.denominator)
        if q is not None
    ]
    assert sorted(r.filter for r in facade.requests) == sorted(queries)
    assert changes == []
