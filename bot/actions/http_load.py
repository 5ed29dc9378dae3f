"""http.load: day 2.1's bounded load test of staging (ab -n 100000 -c 500 at 5,000 r/s for 1 h).

Bounded twice: it stops at the first of its duration or its request cap, and the prober's
configured limits may scale it down further (the sim and the demo do); the outcome says so.
"""

from __future__ import annotations

import math

from bot.actions.base import ActionDeps, Binding
from bot.actions.http_smoke import HttpProbeAction, limits_text
from bot.cloud.http_probe import LoadPlan
from bot.engine.ports import Outcome, ProgressCallback
from bot.runbook.durations import format_duration
from bot.runbook.models import HttpLoad


class HttpLoadAction(HttpProbeAction):
    """Paced GETs at ``rate_rps`` with ``concurrency`` in flight, judged on P95 and error rate."""

    verb = "load-test"
    base_url_allowed = False

    def __init__(self, spec: HttpLoad, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        super().__init__(spec.path, binding, deps)

    def plan(self) -> tuple[LoadPlan, list[str]]:
        """The bounds the test will actually run with, and what the configured limits reduced."""
        spec = self.spec
        cap = max(spec.max_requests, math.ceil(spec.rate_rps * spec.duration.total_seconds())) if spec.hold else None
        asked = LoadPlan(spec.rate_rps, spec.concurrency, spec.duration, cap or spec.max_requests)
        return asked.capped(self.deps.http.limits)

    def describe(self) -> str:
        spec = self.spec
        plan, notes = self.plan()
        line = (
            f"Load test GET {self.url or spec.path} in {self.environment.name}: {plan.rate_rps:g} rps, "
            f"{plan.concurrency} concurrent, for {format_duration(plan.duration)} or "
            f"{plan.max_requests} requests, whichever comes first; pass if "
            f"{limits_text(spec.max_error_rate_pct, spec.max_p95_ms)}"
        )
        if notes:
            line += f" (scaled down by the configured limits: {', '.join(notes)})"
        reason = self._refusal()
        return f"{line} (will be refused: {reason})" if reason else line

    async def run(self, progress: ProgressCallback) -> Outcome:
        url = self._target_url()
        spec = self.spec
        plan, notes = self.plan()
        await progress(
            f"load test: {plan.rate_rps:g} rps to {url} for up to {format_duration(plan.duration)} "
            f"or {plan.max_requests} requests"
        )
        report = await self._measured(
            self.deps.http.load(
                url,
                rate_rps=plan.rate_rps,
                concurrency=plan.concurrency,
                duration=plan.duration,
                max_requests=plan.max_requests,
                clock=self.deps.clock,
            )
        )
        planned = {
            "rate_rps": plan.rate_rps,
            "concurrency": plan.concurrency,
            "duration_s": plan.duration.total_seconds(),
            "max_requests": plan.max_requests,
        }
        stopped = "request cap" if report.stopped_by == "max_requests" else "duration"
        tail = f"stopped at the {stopped}"
        if notes:
            tail += f"; scaled down by the configured limits: {', '.join(notes)}"
        extra = {"planned": planned, "scaled_down": notes}
        return self._verdict("load test", report, spec.max_error_rate_pct, spec.max_p95_ms, extra, tail)


def build(spec: HttpLoad, binding: Binding, deps: ActionDeps) -> HttpLoadAction:
    return HttpLoadAction(spec, binding, deps)
