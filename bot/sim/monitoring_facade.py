"""A local Cloud Monitoring (ListTimeSeries over gRPC) backed by the synthetic metrics.

The real ``MetricServiceAsyncClient`` talks to it on 127.0.0.1, so the bot's Monitoring adapter is
exercised end to end. Filters are mapped back to catalogue metrics through the runbook; every
request is kept in ``requests`` so tests and the watch-cycle benchmark can count and inspect them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import grpc
from google.cloud import monitoring_v3

from bot.engine.ports import Series
from bot.runbook.models import Environment, Metric, Runbook
from bot.sim.metrics import SyntheticMetrics

SERVICE = "google.monitoring.v3.MetricService"
RATIO_DENOMINATOR = 1000.0  # requests per aligned point behind a synthetic ratio
Role = Literal["query", "numerator", "denominator"]
PointKind = Literal["double", "int64", "distribution"]


@dataclass(frozen=True)
class _Route:
    metric: Metric
    role: Role


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
        everything = self._time_series(route, series)
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

    def _time_series(self, route: _Route, series: Series) -> list[monitoring_v3.TimeSeries]:
        """Monitoring answers newest point first; several series when asked to split."""
        points = [self._point(route, p.at, p.value) for p in reversed(series.points)]
        chunk = self._points_per_series or max(1, len(points))
        chunks = [points[i : i + chunk] for i in range(0, len(points), chunk)] or [[]]
        return [
            monitoring_v3.TimeSeries(
                metric={"type": f"sim.ion/{route.metric.id}/{route.role}"},
                resource={"type": "global", "labels": {"project_id": "sim"}},
                points=part,
            )
            for part in chunks
        ]

    def _point(self, route: _Route, at: datetime, value: float) -> dict[str, Any]:
        number = _ratio_part(route, value)
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


def _ratio_part(route: _Route, value: float) -> float:
    """Split a synthetic percentage back into the counts Monitoring would hold."""
    if route.role == "query":
        return value
    if route.role == "denominator":
        return RATIO_DENOMINATOR
    share = 100.0 - value if route.metric.invert_ratio else value
    return RATIO_DENOMINATOR * share / 100.0


def _routes(runbook: Runbook) -> dict[str, _Route]:
    routes: dict[str, _Route] = {}
    for metric in runbook.metrics:
        for role, query in (
            ("query", metric.query),
            ("numerator", metric.numerator),
            ("denominator", metric.denominator),
        ):
            if query is None:
                continue
            if query.filter in routes and role == "denominator":
                continue  # metrics sharing a denominator (request_count) get the same constant
            routes.setdefault(query.filter, _Route(metric, role))  # type: ignore[arg-type]
    return routes


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
