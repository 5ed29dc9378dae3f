"""What an HTTP probe measures and how far a load test may go: the report, its figures, the limits.

Pure data and arithmetic (percentiles, Server-Timing, capping a load plan); bot/cloud/http_probe.py
sends the requests.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


class ProbeRefused(Exception):
    """The prober will not send traffic to this URL (e.g. a non-loopback address in the sim)."""


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (the figure ab and most dashboards report); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def server_timing_ms(header: str) -> float | None:
    """The first ``dur=`` of a ``Server-Timing`` header (``app;dur=23.4``), or None."""
    for metric in header.split(","):
        for param in metric.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "dur":
                try:
                    return max(0.0, float(value.strip().strip('"')))
                except ValueError:
                    return None
    return None


@dataclass(frozen=True)
class ProbeReport:
    """What a smoke or load test measured; ``answered`` counts requests that got any HTTP response."""

    url: str
    count: int
    errors: int
    answered: int
    duration_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    statuses: Mapping[int, int] = field(default_factory=dict)
    first_error: str | None = None
    stopped_by: str = "requests"

    @property
    def error_rate_pct(self) -> float:
        return 100.0 * self.errors / self.count if self.count else 0.0

    @property
    def throughput_rps(self) -> float | None:
        return self.count / self.duration_s if self.duration_s > 0 else None

    def as_data(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "requests": self.count,
            "errors": self.errors,
            "answered": self.answered,
            "error_rate_pct": round(self.error_rate_pct, 3),
            "p50_ms": _round(self.p50_ms),
            "p95_ms": _round(self.p95_ms),
            "p99_ms": _round(self.p99_ms),
            "throughput_rps": _round(self.throughput_rps),
            "duration_s": round(self.duration_s, 3),
            "statuses": {str(code): n for code, n in sorted(self.statuses.items())},
            "stopped_by": self.stopped_by,
        }

    def figures(self) -> str:
        """One line with the figures, e.g. '100 requests, 0 errors (0.00%), P50 3.1 ms, P95 8.0 ms'."""
        parts = [
            f"{self.count} requests",
            f"{self.errors} errors ({self.error_rate_pct:.2f}%)",
            f"P50 {_ms(self.p50_ms)}",
            f"P95 {_ms(self.p95_ms)}",
            f"P99 {_ms(self.p99_ms)}",
        ]
        if self.throughput_rps is not None:
            parts.append(f"{self.throughput_rps:.1f} req/s over {self.duration_s:.1f} s")
        return ", ".join(parts)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


@dataclass(frozen=True)
class LoadLimits:
    """Caps that scale a runbook's load test down (sim, demo, tests); None means no cap."""

    max_requests: int | None = None
    max_duration: timedelta | None = None
    max_concurrency: int | None = None
    max_rate_rps: float | None = None


@dataclass(frozen=True)
class LoadPlan:
    """The bounds of one load test, after any caps."""

    rate_rps: float
    concurrency: int
    duration: timedelta
    max_requests: int

    def capped(self, limits: LoadLimits) -> tuple[LoadPlan, list[str]]:
        """This plan within ``limits``, and one note per figure the limits reduced."""
        notes: list[str] = []

        def cap(name: str, asked: Any, limit: Any, shown: Callable[[Any], str] = str) -> Any:
            if limit is None or asked <= limit:
                return asked
            notes.append(f"{name} {shown(asked)} -> {shown(limit)}")
            return limit

        plan = LoadPlan(
            rate_rps=cap("rate", self.rate_rps, limits.max_rate_rps, lambda v: f"{v:g} rps"),
            concurrency=cap("concurrency", self.concurrency, limits.max_concurrency),
            duration=cap("duration", self.duration, limits.max_duration, _duration_text),
            max_requests=cap("requests", self.max_requests, limits.max_requests),
        )
        return plan, notes


def _duration_text(value: timedelta) -> str:
    seconds = value.total_seconds()
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds:g}s"


class Recorder:
    """Collects per-request results; a 5xx, a timeout or a connection error is an error."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors = 0
        self.count = 0
        self.first_error: str | None = None

    def answered(self, status: int, latency_ms: float) -> None:
        self.count += 1
        self.statuses[status] += 1
        self.latencies.append(latency_ms)
        if status >= 500:
            self.errors += 1
            self.first_error = self.first_error or f"HTTP {status}"

    def failed(self, exc: BaseException) -> None:
        self.count += 1
        self.errors += 1
        if self.first_error is None:
            detail = str(exc) or type(exc).__name__
            self.first_error = f"{type(exc).__name__}: {detail}"

    def report(self, duration_s: float, stopped_by: str) -> ProbeReport:
        return ProbeReport(
            url=self.url,
            count=self.count,
            errors=self.errors,
            answered=sum(self.statuses.values()),
            duration_s=duration_s,
            p50_ms=percentile(self.latencies, 50),
            p95_ms=percentile(self.latencies, 95),
            p99_ms=percentile(self.latencies, 99),
            statuses=dict(self.statuses),
            first_error=self.first_error,
            stopped_by=stopped_by,
        )
