"""What a backtest judges: every condition of the runbook that reads Monitoring, once per environment.

Triggers and ``rollback_if`` conditions raise alerts (they are replayed through the watcher's alert
rules); gate health checks and acceptance criteria pass or fail (they are judged at every poll, and a
gate also at its own clock time each working day). The same condition written in several places is
judged once and names every place it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Literal

from bot.engine.triggers import production_environments, step_trigger
from bot.runbook.conditions import Condition
from bot.runbook.models import Runbook, Trigger

Role = Literal["trigger", "rollback_if", "gate", "acceptance"]
ALERTING: tuple[Role, ...] = ("trigger", "rollback_if")
GATE_ENVIRONMENT = "production"  # gates judge production (bot/engine/gates.py)


@dataclass(frozen=True)
class Subject:
    role: Role
    condition: Condition
    environment: str
    sources: tuple[str, ...]
    trigger: Trigger | None = None  # the alert rules' trigger, for triggers and rollback_if
    gate_times: tuple[time, ...] = ()  # when a gate judges it (its ``at``), for gate checks

    @property
    def text(self) -> str:
        return self.condition.text or str(self.condition)

    @property
    def alerting(self) -> bool:
        return self.role in ALERTING


def subjects(runbook: Runbook, environment: str) -> tuple[list[Subject], list[str]]:
    """The conditions to judge in ``environment``, and a sentence for each one that cannot be."""
    found: dict[tuple[str, str], Subject] = {}
    skipped: list[str] = []

    def add(subject: Subject) -> None:
        metric = runbook.metric(subject.condition.metric)
        if metric is None or metric.source == "incidents":
            why = "is counted by the bot, not read from Monitoring" if metric else "is not in the metric catalogue"
            skipped.append(f"{subject.text} ({', '.join(subject.sources)}): {subject.condition.metric} {why}")
            return
        group = "alert" if subject.alerting else subject.role
        key = (group, subject.text)
        if key in found:
            old = found[key]
            merged = (*old.sources, *(s for s in subject.sources if s not in old.sources))
            found[key] = Subject(
                old.role, old.condition, old.environment, merged, old.trigger, old.gate_times + subject.gate_times
            )
        else:
            found[key] = subject

    for trigger in runbook.triggers:
        if trigger.environment == environment:
            add(Subject("trigger", trigger.condition, environment, (f"trigger {trigger.id}",), trigger))
    for step in runbook.steps():
        productions = production_environments(runbook, step)
        if environment in productions:
            for index in range(len(step.rollback_if)):
                trigger = step_trigger(step, index, environment, several=len(productions) > 1)
                add(Subject("rollback_if", trigger.condition, environment, (f"{step.id} rollback_if",), trigger))
        if environment in step.environments:
            for condition in step.acceptance:
                add(Subject("acceptance", condition, environment, (f"{step.id} acceptance",)))
    if environment == GATE_ENVIRONMENT:
        for gate in runbook.gates:
            for check in gate.health_checks:
                if check.condition is not None:
                    add(Subject("gate", check.condition, environment, (f"gate {gate.id}",), None, (gate.at,)))
    return list(found.values()), skipped
