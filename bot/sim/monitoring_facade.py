"""A local Cloud Monitoring (ListTimeSeries over gRPC) backed by the synthetic metrics.

The real ``MetricServiceAsyncClient`` talks to it on 127.0.0.1, so the bot's Monitoring adapter is
exercised end to end. Filters are mapped back to catalogue metrics through the runbook; every
request is kept in ``requests`` so tests and the watch-cycle benchmark can count and inspect them.

Like Monitoring, it serves no point for a minute a count series had no requests in, and no series
at all for a response class nobody got: a healthy service has no 5xx series.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import grpc
from google.cloud import monitoring_v3

from bot.engine.ports import Series
from bot.runbook.models import Environment, Metric, Runbook, SplitRatio
from bot.sim.metrics import SyntheticMetrics

SERVICE = "google.monitoring.v3.MetricService"
RATIO_DENOMINATOR = 1000.0  # requests per aligned point behind a synthetic ratio
OTHER_CLASSES = ("2xx", "other", "rest")  # the split label's value for requests outside the numerator
Role = Literal["query", "split", "numerator", "denominator"]
PointKind = Literal["double", "int64", "distribution"]


@dataclass(frozen=True)
class _Route:
    metric: Metric
    role: Role


@dataclass(frozen=True)
class _Part:
    """One series to serve: its labels and (time, number) points, newest first."""

    metric_labels: dict[str, str]
    resource_labels: dict[str, str]
    points: list[tuple[datetime, float]]


class MonitoringFacade:
    """Serve ListTimeSeries for the runbook's catalogue; ``points_per_series`` splits results (paging).

    ``max_page_size`` caps a page the way Monitoring does, so the client must follow page tokens.
    """

    def __init__(
        self,
        runbook: Runbook,
        metrics: SyntheticMetrics,
        *,
        points_per_series: int | None = None,
        max_page_size: int | None = None,
        point_kinds: dict[str, PointKind] | None = None,
    ) -> None:
        self._runbook = runbook
        self._metrics = metrics
        self._points_per_series = points_per_series
        self._max_page_size = max_page_size
        self._point_kinds = point_kinds or {}
        self._routes = _routes(runbook)
        self.requests: list[monitoring_v3.ListTimeSeriesRequest] = []
        self._server: grpc.aio.Server | None = None
        self.address = ""

    async def start(self) -> str:
        """Bind 127.0.0.1 on an ephemeral port; return ``host:port``."""
        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(
            self._list_time_series,
            request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
            response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize,
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"ListTimeSeries": handler}),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None

    async def __aenter__(self) -> MonitoringFacade:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _list_time_series(
        self, request: monitoring_v3.ListTimeSeriesRequest, context: grpc.aio.ServicerContext
    ) -> monitoring_v3.ListTimeSeriesResponse:
        self.requests.append(request)
        route = self._routes.get(request.filter)
        if route is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unknown filter {request.filter!r}")
        environment = self._environment(request.name)
        if environment is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no such project {request.name!r}")
        assert route is not None and environment is not None
        start = _utc(request.interval.start_time)
        end = _utc(request.interval.end_time)
        series = await self._metrics.read(route.metric, environment, start, end)
        everything = self._time_series(route, series, request)
        offset = int(request.page_token or "0")
        size = request.page_size or self._max_page_size or len(everything) or 1
        if self._max_page_size:
            size = min(size, self._max_page_size)
        page = everything[offset : offset + size]
        token = str(offset + size) if offset + size < len(everything) else ""
        return monitoring_v3.ListTimeSeriesResponse(time_series=page, next_page_token=token)

    def _environment(self, name: str) -> Environment | None:
        project = name.removeprefix("projects/")
        return next((e for e in self._runbook.environments if e.project == project), None)

    def _time_series(
        self, route: _Route, series: Series, request: monitoring_v3.ListTimeSeriesRequest
    ) -> list[monitoring_v3.TimeSeries]:
        """Monitoring answers newest point first; several series when asked to split."""
        chunk = self._points_per_series or None
        served: list[monitoring_v3.TimeSeries] = []
        for part in _parts(route, series, list(request.aggregation.group_by_fields)):
            points = [self._point(route, at, number) for at, number in part.points]
            size = chunk or len(points)
            for i in range(0, len(points), size):
                served.append(
                    monitoring_v3.TimeSeries(
                        metric={"type": f"sim.ion/{route.metric.id}/{route.role}", "labels": part.metric_labels},
                        resource={"type": "global", "labels": {"project_id": "sim", **part.resource_labels}},
                        points=points[i : i + size],
                    )
                )
        return served

    def _point(self, route: _Route, at: datetime, number: float) -> dict[str, Any]:
        if route.role == "query" and route.metric.scale != 1.0:
            number /= route.metric.scale  # serve the raw unit (seconds, fractions) as Monitoring does
        kind = self._point_kinds.get(route.metric.id, "int64" if route.metric.unit == "count" else "double")
        typed: dict[str, Any]
        if kind == "int64":
            typed = {"int64_value": round(number)}
        elif kind == "distribution":
            typed = {"distribution_value": {"count": 10, "mean": number}}
        else:
            typed = {"double_value": number}
        seconds = int(at.timestamp())
        return {
            "interval": {"start_time": {"seconds": seconds - 60}, "end_time": {"seconds": seconds}},
            "value": typed,
        }


def _parts(route: _Route, series: Series, group_by: list[str]) -> list[_Part]:
    """The series Monitoring would hold for one request; a class with no requests has none."""
    newest_first = list(reversed(series.points))
    ratio = route.metric.ratio
    if route.role == "split" and ratio is not None and ratio.split_by in group_by:
        errors = [(p.at, RATIO_DENOMINATOR * _share(route.metric, p.value) / 100.0) for p in newest_first]
        rest = [(at, RATIO_DENOMINATOR - number) for at, number in errors]
        other = next(v for v in OTHER_CLASSES if v not in ratio.numerator_values)
        parts = [_labelled(ratio, ratio.numerator_values[0], errors), _labelled(ratio, other, rest)]
    elif route.role == "numerator":
        errors = [(p.at, RATIO_DENOMINATOR * _share(route.metric, p.value) / 100.0) for p in newest_first]
        parts = [_Part({}, {}, errors)]
    elif route.role in ("split", "denominator"):  # not grouped by the split label: one summed series
        parts = [_Part({}, {}, [(p.at, RATIO_DENOMINATOR) for p in newest_first])]
    else:
        return [_Part({}, {}, [(p.at, p.value) for p in newest_first])] if newest_first else []
    counted = [_Part(p.metric_labels, p.resource_labels, [(at, n) for at, n in p.points if n > 0]) for p in parts]
    return [part for part in counted if part.points]


def _labelled(ratio: SplitRatio, value: str, points: list[tuple[datetime, float]]) -> _Part:
    """A series carrying ``split_by`` = ``value`` where the label lives (metric or resource)."""
    scope, _, key = ratio.split_by.split(".", 2)
    labels = {key: value}
    return _Part(labels, {}, points) if scope == "metric" else _Part({}, labels, points)


def _share(metric: Metric, value: float) -> float:
    """The numerator's share in percent behind a synthetic reading (availability counts the rest)."""
    return 100.0 - value if metric.invert_ratio else value


def _routes(runbook: Runbook) -> dict[str, _Route]:
    """Filter -> the metric whose synthetic values answer it; the first metric reading a filter wins.

    A filter shared by several metrics (one split ratio behind both error rate and availability, a
    common request-count denominator) is one set of series, as in Monitoring; denominators yield to
    any other role, since a split route also answers an ungrouped request with the total.
    """
    routes: dict[str, _Route] = {}
    for metric in runbook.metrics:
        for role, query in (("query", metric.query), ("split", metric.ratio), ("numerator", metric.numerator)):
            if query is not None:
                routes.setdefault(query.filter, _Route(metric, role))  # type: ignore[arg-type]
    for metric in runbook.metrics:
        if metric.denominator is not None:
            routes.setdefault(metric.denominator.filter, _Route(metric, "denominator"))
    return routes


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
