"""http.smoke: N requests against the environment's service, judged on error rate and P95 (day 2.2).

Also the URL and allow-list rules shared with http.load: a probe only ever targets the environment's
own hosts, so a runbook typo cannot aim traffic at someone else's server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from bot.actions.base import ActionDeps, Binding, ReadOnlyAction
from bot.cloud.http_probe import LoadPlan, ProbeRefused, ProbeReport
from bot.engine.ports import ActionFailed, Outcome, ProgressCallback, Target
from bot.runbook.durations import format_duration
from bot.runbook.models import Environment, HttpSmoke


def probe_url(environment: Environment, path: str) -> str | None:
    """A full URL as given, or ``path`` under the environment's base_url; None without a base_url."""
    if path.startswith(("http://", "https://")):
        return path
    if environment.base_url is None:
        return None
    return environment.base_url.rstrip("/") + "/" + path.lstrip("/")


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def allowed_hosts(environment: Environment, include_base_url: bool) -> list[str]:
    hosts = [h.lower() for h in environment.allowed_hosts]
    if include_base_url and environment.base_url:
        base = host_of(environment.base_url)
        if base and base not in hosts:
            hosts.append(base)
    return hosts


def refusal(verb: str, environment: Environment, path: str, url: str | None, include_base_url: bool) -> str | None:
    """Why this probe may not run here (one sentence), or None when it may."""
    if url is None:
        return (
            f"cannot {verb} {path}: {environment.name} has no base_url; nothing was sent. "
            "Set the environment's base_url in the runbook or give a full URL."
        )
    host = host_of(url)
    hosts = allowed_hosts(environment, include_base_url)
    if host not in hosts:
        listed = ", ".join(hosts) or "none"
        return (
            f"refusing to {verb} {host}: not in {environment.name}'s allowed_hosts ({listed}); "
            "nothing was sent. Add the host to the environment's allowed_hosts if it is meant to be tested."
        )
    return None


def judge(report: ProbeReport, max_error_rate_pct: float | None, max_p95_ms: float | None) -> list[str]:
    """The thresholds ``report`` breaks, each with the figure and the limit; empty when it passes."""
    failures: list[str] = []
    if max_error_rate_pct is not None and report.error_rate_pct > max_error_rate_pct:
        failures.append(f"error rate {report.error_rate_pct:.2f}% is above {max_error_rate_pct:g}%")
    if max_p95_ms is not None:
        if report.p95_ms is None:
            failures.append("no request was answered, so there is no P95")
        elif report.p95_ms > max_p95_ms:
            failures.append(f"P95 {report.p95_ms:.1f} ms is above {max_p95_ms:g} ms")
    return failures


def limits_text(max_error_rate_pct: float | None, max_p95_ms: float | None) -> str:
    parts = []
    if max_error_rate_pct is not None:
        parts.append(f"error rate <= {max_error_rate_pct:g}%")
    if max_p95_ms is not None:
        parts.append(f"P95 <= {max_p95_ms:g} ms")
    return " and ".join(parts) or "no thresholds (report only)"


def unreachable(url: str, report: ProbeReport) -> ActionFailed | None:
    """An ActionFailed when not one request got an HTTP answer: the endpoint is down or wrong."""
    if report.count == 0 or report.answered > 0:
        return None
    return ActionFailed(
        f"could not reach {url}: none of {report.count} requests got an answer ({report.first_error}); "
        "nothing was changed. Check that the service is up and the environment's base_url is right.",
        retryable=True,
    )


class HttpProbeAction(ReadOnlyAction):
    """What a smoke test and a load test share: one URL under the environment, one allow-list rule.

    ``verb`` names the probe in refusals; ``base_url_allowed`` says whether the environment's
    base_url host counts as allowed (a smoke test's does; a load test needs allowed_hosts).
    """

    verb = "probe"
    base_url_allowed = False

    def __init__(self, path: str, binding: Binding, deps: ActionDeps) -> None:
        self.environment = binding.environment
        self.deps = deps
        self.path = path
        self.url = probe_url(self.environment, path)
        shown = self.url or path
        super().__init__(Target(key=f"{self.environment.name}:{shown}", label=f"{shown} ({self.environment.name})"))

    def _refusal(self) -> str | None:
        return refusal(self.verb, self.environment, self.path, self.url, include_base_url=self.base_url_allowed)

    def _target_url(self) -> str:
        """The URL to probe, or ActionFailed saying why nothing may be sent there."""
        reason = self._refusal()
        if reason is not None or self.url is None:
            raise ActionFailed(reason or f"no URL for {self.path}")
        return self.url

    async def _measured(self, probe: Awaitable[ProbeReport]) -> ProbeReport:
        """Await the probe; a refusal or a target that never answered becomes ActionFailed."""
        try:
            report = await probe
        except ProbeRefused as exc:
            raise ActionFailed(f"{exc}; nothing was sent.") from None
        failed = unreachable(self.url or self.path, report)
        if failed is not None:
            raise failed
        return report

    def _verdict(
        self,
        name: str,
        report: ProbeReport,
        max_error_rate_pct: float | None,
        max_p95_ms: float | None,
        extra: Mapping[str, Any] | None = None,
        context: str | None = None,
    ) -> Outcome:
        """Judge the figures against the limits: one readable line and the figures as data."""
        failures = judge(report, max_error_rate_pct, max_p95_ms)
        data = {**report.as_data(), "max_error_rate_pct": max_error_rate_pct, "max_p95_ms": max_p95_ms, **(extra or {})}
        limits = limits_text(max_error_rate_pct, max_p95_ms)
        said = f"{context}; " if context else ""
        if failures:
            message = f"{name} failed: {'; '.join(failures)} ({report.figures()}; {said}limits: {limits})"
            return Outcome(ok=False, changed=False, message=message, data=data)
        return Outcome(
            ok=True, changed=False, message=f"{name} passed: {report.figures()} ({said}limits: {limits})", data=data
        )


class HttpSmokeAction(HttpProbeAction):
    """Day 2.2's "send 100 test requests, response time < 50 ms, no errors"."""

    verb = "smoke-test"
    base_url_allowed = True

    def __init__(self, spec: HttpSmoke, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        super().__init__(spec.path, binding, deps)

    def paced(self) -> tuple[LoadPlan, list[str]] | None:
        """With a ``duration``: the requests spread evenly over it, within the prober's limits."""
        spec = self.spec
        if spec.duration is None:
            return None
        limits = self.deps.http.limits
        rate = spec.requests / max(spec.duration.total_seconds(), 1.0)
        plan, notes = LoadPlan(rate, spec.concurrency, spec.duration, spec.requests).capped(limits)
        if plan.duration < spec.duration:  # a shorter window still sends every request it may
            faster = plan.max_requests / max(plan.duration.total_seconds(), 1.0)
            plan = replace(plan, rate_rps=min(faster, limits.max_rate_rps or faster))
        return plan, notes

    def describe(self) -> str:
        spec = self.spec
        paced = self.paced()
        spread = f" over {format_duration(paced[0].duration)}" if paced else ""
        line = (
            f"Smoke test GET {self.url or spec.path} in {self.environment.name}: {spec.requests} requests{spread}, "
            f"{spec.concurrency} at a time; pass if "
            f"{limits_text(spec.max_error_rate_pct, spec.max_p95_ms)}"
        )
        if paced and paced[1]:
            line += f" (scaled down by the configured limits: {', '.join(paced[1])})"
        reason = self._refusal()
        return f"{line} (will be refused: {reason})" if reason else line

    async def run(self, progress: ProgressCallback) -> Outcome:
        url = self._target_url()
        spec = self.spec
        paced = self.paced()
        if paced is None:
            await progress(f"smoke test: sending {spec.requests} requests to {url}")
            report = await self._measured(self.deps.http.smoke(url, spec.requests, spec.concurrency, spec.timeout))
            return self._verdict("smoke test", report, spec.max_error_rate_pct, spec.max_p95_ms)
        plan, notes = paced
        await progress(f"smoke test: {plan.max_requests} requests to {url} over {format_duration(plan.duration)}")
        report = await self._measured(
            self.deps.http.load(
                url, plan.rate_rps, plan.concurrency, plan.duration, plan.max_requests, self.deps.clock, spec.timeout
            )
        )
        said = f"over {format_duration(plan.duration)}" + (
            f"; scaled down by the configured limits: {', '.join(notes)}" if notes else ""
        )
        extra = {"duration_s": plan.duration.total_seconds(), "scaled_down": notes}
        return self._verdict("smoke test", report, spec.max_error_rate_pct, spec.max_p95_ms, extra, said)


def build(spec: HttpSmoke, binding: Binding, deps: ActionDeps) -> HttpSmokeAction:
    return HttpSmokeAction(spec, binding, deps)
