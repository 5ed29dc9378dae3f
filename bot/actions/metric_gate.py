"""metric.gate: a condition on live metrics that must hold before the step goes on.

Unknown (no data, no baseline) is never a pass: a gate that cannot see opens nothing.
"""

from __future__ import annotations

from datetime import timedelta

from bot.actions.base import ActionDeps, Binding, ReadOnlyAction
from bot.engine.landing import history_read
from bot.engine.ports import Outcome, ProgressCallback, Target
from bot.runbook.models import MetricGate


def _figure(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


class MetricGateAction(ReadOnlyAction):
    """Checks the condition through the ConditionChecker at the clock's now (windows end now); the
    executor starts it no earlier than the condition's window after the step's newest change landed."""

    def __init__(self, spec: MetricGate, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        self.environment = binding.environment
        self.deps = deps
        text = self.condition_text()
        super().__init__(Target(key=f"{self.environment.name}:{text}", label=f"{text} ({self.environment.name})"))

    def history(self) -> timedelta:
        """How far back the condition reads; the executor runs the gate only that long after the landing."""
        return history_read(self.spec.condition)

    def condition_text(self) -> str:
        return self.spec.condition.text or str(self.spec.condition)

    def describe(self) -> str:
        return f"Check {self.condition_text()} in {self.environment.name}"

    async def run(self, progress: ProgressCallback) -> Outcome:
        now = self.deps.clock.now()
        result = await self.deps.checker.check(self.spec.condition, self.environment, now)
        data = {
            "condition": self.condition_text(),
            "passed": result.passed,
            "value": result.value,
            "threshold": result.threshold,
            "detail": result.detail,
            "checked_at": now.isoformat(),
        }
        figures = f"value {_figure(result.value)}, threshold {_figure(result.threshold)}"
        detail = f"; {result.detail}" if result.detail else ""
        if result.passed is None:
            message = f"gate not passed: no data for {self.condition_text()} in {self.environment.name}{detail}"
            return Outcome(ok=False, changed=False, message=message, data=data)
        verdict = "gate passed" if result.passed else "gate failed"
        message = f"{verdict}: {self.condition_text()} ({figures}){detail}"
        return Outcome(ok=result.passed, changed=False, message=message, data=data)


def build(spec: MetricGate, binding: Binding, deps: ActionDeps) -> MetricGateAction:
    return MetricGateAction(spec, binding, deps)
