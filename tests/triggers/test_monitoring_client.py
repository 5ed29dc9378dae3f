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

from bot.cloud.monitoring import CloudMonitoringSource, MetricsUnavailable, build_request
from bot.engine.clock import VirtualClock
from bot.engine.evaluator import MetricsChecker
from bot.engine.records import StepLane, StepState
from bot.engine.triggers import TriggerPolicy
from bot.engine.watch import Watcher
from bot.runbook.loader import load_runbook
from bot.runbook.models import Metric, Runbook, SplitRatio
from bot.sim.faults import FaultPlan
from bot.sim.metrics import SyntheticMetrics
from bot.sim.monitoring_facade import MonitoringFacade
from tests.triggers.builders import (
    RUN_REQUESTS,
    RUN_START,
    T0,
    AlertIncidents,
    InMemoryAlerts,
    RecordingNotifier,
    seed_runbook,
    two_filter_ratio,
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


async def test_a_split_ratio_is_one_call_summed_per_response_class(facade: MonitoringFacade) -> None:
    source, channel = await client_for(facade)
    error_rate = metric("error_rate_pct")
    got = await source.read(error_rate, PRODUCTION, START, END)
    await channel.close()

    [request] = facade.requests
    assert error_rate.ratio is not None
    assert request.name == "projects/ion-mentoring"
    assert request.filter == error_rate.ratio.filter  # all requests: no 5xx clause in the filter
    assert "5xx" not in request.filter
    assert request.interval.start_time == START and request.interval.end_time == END
    aggregation = request.aggregation
    assert aggregation.alignment_period == timedelta(seconds=60)
    assert aggregation.per_series_aligner.name == "ALIGN_RATE"
    assert aggregation.cross_series_reducer.name == "REDUCE_SUM"
    assert list(aggregation.group_by_fields) == ["metric.labels.response_code_class"]
    assert request.view == ListTimeSeriesRequest.TimeSeriesView.FULL
    expected = await SyntheticMetrics().read(error_rate, PRODUCTION, START, END)
    assert [p.at for p in got.points] == [p.at for p in expected.points]
    assert [p.value for p in got.points] == pytest.approx([p.value for p in expected.points])
    assert got.step_seconds == 60.0


def test_a_split_ratio_keeps_the_runbooks_own_group_by_and_adds_the_split_label() -> None:
    ratio = SplitRatio.model_validate(
        {
            "filter": RUN_REQUESTS,
            "group_by": ["resource.labels.location"],
            "split_by": "metric.labels.response_code_class",
            "numerator_values": ["5xx"],
        }
    )
    aggregation = build_request(ratio, PRODUCTION, START, END)["aggregation"]
    assert aggregation["group_by_fields"] == ["resource.labels.location", "metric.labels.response_code_class"]
    assert aggregation["cross_series_reducer"] == "REDUCE_SUM"


async def test_the_older_two_filter_ratio_still_reads_in_two_calls() -> None:
    runbook = seed_runbook(triggers=[])
    old = Metric.model_validate({**two_filter_ratio("error_rate_pct"), "baseline": 0.3})
    runbook = runbook.model_copy(update={"metrics": [old, *runbook.metrics[1:]]})
    async with MonitoringFacade(runbook, SyntheticMetrics()) as facade:
        source, channel = await client_for(facade)
        got = await source.read(old, PRODUCTION, START, END)
        await channel.close()
    assert old.numerator is not None and old.denominator is not None
    assert sorted(r.filter for r in facade.requests) == sorted([old.numerator.filter, old.denominator.filter])
    expected = await SyntheticMetrics().read(old, PRODUCTION, START, END)
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


async def test_one_poll_of_the_seed_triggers_makes_one_call_per_metric(facade: MonitoringFacade) -> None:
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

    watched = [m for m in RUNBOOK.metrics if m.id in {t.condition.metric for t in RUNBOOK.triggers}]
    queries = [q.filter for m in watched for q in m.queries]
    assert sorted(r.filter for r in facade.requests) == sorted(queries)
    assert len(facade.requests) == 4  # error rate, p95, cache hit rate, replication lag; incidents: none
    assert len(facade.requests) == sum(m.source == "monitoring" for m in watched)
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


async def test_the_week17_runbook_polls_healthy_with_one_call_per_metric() -> None:
    runbook = load_runbook(WEEK17)
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
    watched = [m for m in runbook.metrics if m.id in used and m.source == "monitoring"]
    assert all(len(m.queries) == 1 for m in watched)
    assert sorted(r.filter for r in facade.requests) == sorted(m.queries[0].filter for m in watched)
    assert len(facade.requests) == len(watched) == 4
    assert changes == []


async def test_week17_with_days_1_and_7_done_still_reads_each_metric_once_per_poll() -> None:
    """day1.3 and day7.1's rollback_if conditions join the poll: one more call per metric they add
    (query time, pool errors, database CPU, the new primary's CPU), none for the replication lag the
    run-wide trigger reads."""
    runbook = load_runbook(WEEK17)
    async with MonitoringFacade(runbook, SyntheticMetrics()) as facade:
        source, channel = await client_for(facade)
        alerts = InMemoryAlerts()
        for step_id in ("day1.3", "day7.1"):
            alerts.put_lane(StepLane("r1", step_id, "production", StepState.DONE, changed_at=T0 - timedelta(hours=2)))
        watcher = Watcher(
            runbook, source, alerts, RecordingNotifier(), VirtualClock(T0), _never_roll_back, AlertIncidents(alerts)
        )
        changes = await watcher.poll("r1", "C1", "day7.1")
        await channel.close()
    conditions = [t.condition for t in runbook.triggers]
    conditions += [c for step_id in ("day1.3", "day7.1") if (s := runbook.step(step_id)) for c in s.rollback_if]
    watched = [m for m in runbook.metrics if m.id in {c.metric for c in conditions} and m.source == "monitoring"]
    assert sorted(r.filter for r in facade.requests) == sorted(m.queries[0].filter for m in watched)
    assert len(facade.requests) == len(watched) == 4 + 4
    assert changes == []  # a healthy production: nothing to roll back


async def test_week17s_error_rate_and_availability_are_the_same_single_split_request() -> None:
    runbook = load_runbook(WEEK17)
    error_rate, availability = metric("error_rate_pct", runbook), metric("availability_pct", runbook)
    assert error_rate.ratio is not None and availability.ratio is not None
    assert error_rate.numerator is None and availability.numerator is None
    assert build_request(error_rate.ratio, PRODUCTION, START, END) == build_request(
        availability.ratio, PRODUCTION, START, END
    )
    async with MonitoringFacade(runbook, SyntheticMetrics()) as facade:
        source, channel = await client_for(facade)
        errors = await source.read(error_rate, PRODUCTION, START, END)
        available = await source.read(availability, PRODUCTION, START, END)
        await channel.close()
    assert len(facade.requests) == 2
    assert [p.value for p in available.points] == pytest.approx([100.0 - p.value for p in errors.points])


# --- a healthy service has no 5xx series at all ------------------------------------------------

NO_5XX = ["error_rate_pct 0 from day1 09:00 for 2d"]  # covers T0 and the 24 h before it


def no_5xx_metrics(runbook: Runbook) -> SyntheticMetrics:
    return SyntheticMetrics(faults=FaultPlan(NO_5XX, run_start=RUN_START, calendar=runbook.calendar))


async def test_without_any_5xx_monitoring_returns_only_the_2xx_series() -> None:
    runbook = load_runbook(WEEK17)
    ratio = metric("error_rate_pct", runbook).ratio
    assert ratio is not None
    async with MonitoringFacade(runbook, no_5xx_metrics(runbook)) as facade:
        _, channel = await client_for(facade)
        client = MetricServiceAsyncClient(transport=MetricServiceGrpcAsyncIOTransport(channel=channel))
        pager = await client.list_time_series(request=build_request(ratio, PRODUCTION, START, END))
        classes = [dict(series.metric.labels) async for series in pager]
        await channel.close()
    assert classes == [{"response_code_class": "2xx"}]


async def test_a_minute_without_5xx_reads_0_pct_errors_and_100_pct_availability() -> None:
    runbook = load_runbook(WEEK17)
    async with MonitoringFacade(runbook, no_5xx_metrics(runbook)) as facade:
        source, channel = await client_for(facade)
        errors = await source.read(metric("error_rate_pct", runbook), PRODUCTION, START, END)
        available = await source.read(metric("availability_pct", runbook), PRODUCTION, START, END)
        await channel.close()
    assert [p.value for p in errors.points] == [0.0] * 11  # data, not a gap
    assert [p.value for p in available.points] == [100.0] * 11


async def test_the_older_two_filter_form_reads_0_pct_when_the_5xx_numerator_has_no_series() -> None:
    runbook = seed_runbook(triggers=[])
    old = Metric.model_validate(two_filter_ratio("error_rate_pct"))
    inverted = Metric.model_validate(two_filter_ratio("availability_pct", invert=True))
    runbook = runbook.model_copy(update={"metrics": [old, inverted, *runbook.metrics[1:]]})
    async with MonitoringFacade(runbook, no_5xx_metrics(runbook)) as facade:
        source, channel = await client_for(facade)
        errors = await source.read(old, PRODUCTION, START, END)
        available = await source.read(inverted, PRODUCTION, START, END)
        await channel.close()
    assert [p.value for p in errors.points] == [0.0] * 11
    assert [p.value for p in available.points] == [100.0] * 11


async def test_a_service_without_5xx_raises_no_no_data_alert_and_passes_the_go_no_go_checks() -> None:
    runbook = load_runbook(WEEK17)
    async with MonitoringFacade(runbook, no_5xx_metrics(runbook)) as facade:
        source, channel = await client_for(facade)
        alerts = InMemoryAlerts()
        clock = VirtualClock(T0)
        watcher = Watcher(runbook, source, alerts, RecordingNotifier(), clock, _never_roll_back, AlertIncidents(alerts))
        changes = []
        for _ in range(TriggerPolicy().no_data_after + 2):
            changes += await watcher.poll("r1", "C1", None)
            await clock.advance(timedelta(minutes=1))
        checker = MetricsChecker(source, runbook)
        checks = [
            await checker.check(text, PRODUCTION, T0)  # week17's production is the same project
            for text in ("availability_pct >= 99.95 over 24h", "error_rate_pct < 0.5 over 24h")
        ]
        await channel.close()
    assert changes == [] and alerts.by_id == {}
    assert [(c.passed, c.value) for c in checks] == [(True, 100.0), (True, 0.0)]
