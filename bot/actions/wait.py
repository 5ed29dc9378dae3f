"""wait: a soak period between changes, on the injected clock so the sim and tests move time.

Interrupting it is cancelling the task; nothing is caught here, so the cancellation reaches the caller.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.actions.base import ActionDeps, Binding, ReadOnlyAction
from bot.engine.ports import Outcome, ProgressCallback, Target
from bot.runbook.durations import format_duration
from bot.runbook.models import Wait


class WaitAction(ReadOnlyAction):
    """Sleeps ``duration`` on deps.clock and reports how long it actually waited."""

    def __init__(self, spec: Wait, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        self.environment = binding.environment
        self.zone = ZoneInfo(binding.runbook.calendar.timezone)  # the run's one zone, as on every other line
        self.deps = deps
        label = f"wait {format_duration(spec.duration)} ({self.environment.name})"
        super().__init__(Target(key=f"{self.environment.name}:wait:{format_duration(spec.duration)}", label=label))

    def _reason(self) -> str:
        return f" ({self.spec.reason})" if self.spec.reason else ""

    def describe(self) -> str:
        return f"Wait {format_duration(self.spec.duration)} in {self.environment.name}{self._reason()}"

    async def run(self, progress: ProgressCallback) -> Outcome:
        clock = self.deps.clock
        started = clock.now()
        until = started + self.spec.duration
        shown = f"{until.astimezone(self.zone):%H:%M %Z}"
        await progress(f"waiting {format_duration(self.spec.duration)}, until {shown}{self._reason()}")
        await clock.sleep(self.spec.duration.total_seconds())
        waited = clock.now() - started
        data = {
            "waited_s": waited.total_seconds(),
            "planned_s": self.spec.duration.total_seconds(),
            "started_at": started.isoformat(),
        }
        shown = format_duration(waited) if waited.total_seconds() >= 1 else f"{waited.total_seconds():.1f}s"
        return Outcome(ok=True, changed=False, message=f"waited {shown}{self._reason()}", data=data)


def build(spec: Wait, binding: Binding, deps: ActionDeps) -> WaitAction:
    return WaitAction(spec, binding, deps)
