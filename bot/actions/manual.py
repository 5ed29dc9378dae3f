"""manual: something a person does (a benchmark, a look at a dashboard); the step waits for their Done.

The executor does not apply this action: it stops the lane at it (``waiting``) until the person
the runbook names presses Done, with the value it asks for (bot/engine/manual.py). This class
gives the plan its line and the record its target.
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
        super().__init__(
            Target(
                key=f"{self.environment.name}:manual:{spec.id or spec.instruction}",
                label=f"manual ({self.environment.name})",
            )
        )

    def describe(self) -> str:
        who = f"the {self.spec.by}" if self.spec.by else "anyone on the team"
        asks = ""
        if self.spec.value is not None:
            rule = f", {self.spec.accept.text}" if self.spec.accept is not None else ""
            asks = f", with {self.spec.value.name} ({self.spec.value.unit}{rule})"
        return f"Manual in {self.environment.name}, Done by {who}{asks}: {self.spec.instruction}"

    async def run(self, progress: ProgressCallback) -> Outcome:
        # Never reached for a real run: the executor waits for the person's Done instead.
        return Outcome(ok=True, changed=False, message=f"manual: {self.spec.instruction} (recorded by its Done)")


def build(spec: Manual, binding: Binding, deps: ActionDeps) -> ManualAction:
    return ManualAction(spec, binding, deps)
