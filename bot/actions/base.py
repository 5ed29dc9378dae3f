"""What every action kind is built with: its adapters, the environment and the runbook."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.cloud.ports import CloudRunApi, CloudSqlApi
from bot.engine.ports import (
    JSON,
    Change,
    Clock,
    ConditionChecker,
    Outcome,
    ProgressCallback,
    Target,
)
from bot.engine.ports import KeyValueStore as KeyValueStore
from bot.runbook.models import Environment, Runbook

if TYPE_CHECKING:
    from bot.cloud.http_probe import HttpProber
    from bot.cloud.sql_target import SqlTargets


@dataclass
class ActionDeps:
    """The adapters, chosen once at start-up (sim or real) and shared by all actions."""

    cloud_run: CloudRunApi
    cloud_sql: CloudSqlApi
    http: HttpProber
    sql: SqlTargets
    checker: ConditionChecker
    clock: Clock
    settings: KeyValueStore


@dataclass(frozen=True)
class Binding:
    """An action model bound to one environment of one runbook."""

    runbook: Runbook
    environment: Environment


class ReadOnlyAction(ABC):
    """Shared shape of kinds that measure, check or wait and change nothing (probes, queries, gates).

    One target, an empty diff, nothing to revert; ``verify`` repeats the verdict of the last ``apply``
    so the executor's verify step reports the measurement instead of pretending to re-check it.
    """

    mutating = False

    def __init__(self, target: Target) -> None:
        self.target = target
        self.last_outcome: Outcome | None = None

    @abstractmethod
    def describe(self) -> str: ...

    def targets(self) -> Sequence[Target]:
        return [self.target]

    async def snapshot(self, target: Target) -> JSON:
        return None

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        return []

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        self.last_outcome = await self.run(progress)
        return self.last_outcome

    @abstractmethod
    async def run(self, progress: ProgressCallback) -> Outcome:
        """Do the measurement (or wait, or check)."""

    async def verify(self, target: Target) -> Outcome:
        if self.last_outcome is None:
            return Outcome(ok=False, changed=False, message=f"not run yet: {self.describe()}")
        return self.last_outcome

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        message = f"nothing to revert: {self.describe()} changes nothing"
        return Outcome(ok=True, changed=False, message=message)

    async def read_back(self, target: Target) -> JSON:
        return None
