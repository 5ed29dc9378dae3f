"""manual: something a person does (a deploy by hand, a look at a dashboard); the bot records it.

The person who confirmed the run vouches for it, so apply only writes that down.
"""

from __future__ import annotations

from bot.actions.base import ActionDeps, Binding, ReadOnlyAction
from bot.engine.ports import Outcome, ProgressCallback, Target
from bot.runbook.models import Manual


class ManualAction(ReadOnlyAction):
    """A runbook instruction for a person; changes nothing the bot can see or revert."""

    def __init__(self, spec: Manual, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        self.environment = binding.environment
        self._clock = deps.clock
        super().__init__(
            Target(
                key=f"{self.environment.name}:manual:{spec.instruction}",
                label=f"manual ({self.environment.name})",
            )
        )

    def describe(self) -> str:
        return f"Manual, by a person in {self.environment.name}: {self.spec.instruction}"

    async def run(self, progress: ProgressCallback) -> Outcome:
        at = self._clock.now()
        message = (
            f"manual: {self.spec.instruction} — recorded as done at {at:%Y-%m-%d %H:%M %Z} "
            "by the person who confirmed the run (named in the execution and the audit log)"
        )
        data = {"instruction": self.spec.instruction, "recorded_at": at.isoformat()}
        return Outcome(ok=True, changed=False, message=message, data=data)


def build(spec: Manual, binding: Binding, deps: ActionDeps) -> ManualAction:
    return ManualAction(spec, binding, deps)
