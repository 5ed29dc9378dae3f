"""In-memory fakes for the engine's ports: a RolloutStore (fake_store.py), a world of fake actions, a checker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.engine.ports import (
    JSON,
    Action,
    ActionFailed,
    Change,
    CheckResult,
    Event,
    Outcome,
    ProgressCallback,
    Target,
)
from bot.runbook.models import Environment, Runbook
from tests.engine.fake_store import UNFINISHED, DuplicateKey, FakeStore

__all__ = [
    "UNFINISHED",
    "DuplicateKey",
    "FakeActions",
    "FakeChecker",
    "FakeNote",
    "FakeNotifier",
    "FakeScale",
    "FakeStore",
    "SimulatedCrash",
    "World",
]

# --- a tests-only action kind over a fake world -------------------------------------------


class SimulatedCrash(BaseException):
    """The process dies mid-apply: not an Exception, so nothing in the engine catches it."""


@dataclass
class World:
    """Live state of fake services: "env/service/region" -> {"min_instances": n, "max_instances": m}."""

    services: dict[str, dict[str, int]] = field(default_factory=dict)
    fail_apply: set[str] = field(default_factory=set)  # target keys whose apply raises ActionFailed
    crash_before_write: set[str] = field(default_factory=set)
    crash_after_write: set[str] = field(default_factory=set)
    crash_revert: set[str] = field(default_factory=set)  # target keys whose revert kills the process
    applied: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    while_applying: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)  # key -> after write
    while_reverting: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)

    def state(self, key: str) -> dict[str, int]:
        return self.services.setdefault(key, {"min_instances": 3, "max_instances": 100})


_FIELDS = {"min_instances": "minInstances", "max_instances": "maxInstances"}


class FakeScale:
    """cloud_run.scale against the World: the same contract a real action kind keeps."""

    mutating = True

    def __init__(self, spec: Any, runbook: Runbook, environment: Environment, world: World) -> None:
        self.spec = spec
        self.env = environment.name
        self.world = world
        service = runbook.service(spec.service)
        regions = spec.regions if spec.regions != "all" else (service.regions if service else [])
        self._targets = [Target(f"{spec.service}/{r}", f"{spec.service} {r} ({self.env})") for r in regions]
        self.wanted = {k: getattr(spec, k) for k in _FIELDS if getattr(spec, k) is not None}

    def describe(self) -> str:
        return f"Scale {self.spec.service}: " + ", ".join(f"{k} {v}" for k, v in self.wanted.items())

    def targets(self) -> Sequence[Target]:
        return self._targets

    def _key(self, target: Target) -> str:
        return f"{self.env}/{target.key}"

    async def snapshot(self, target: Target) -> JSON:
        live = self.world.state(self._key(target))
        return {k: live[k] for k in self.wanted}

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        return [
            Change(target.label, _FIELDS[k], snapshot.get(k), v) for k, v in self.wanted.items() if snapshot.get(k) != v
        ]

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        key = self._key(target)
        if target.key in self.world.crash_before_write:
            raise SimulatedCrash(key)
        if target.key in self.world.fail_apply:
            raise ActionFailed(f"Cloud Run refused the update of {target.label}: quota exceeded.")
        if not self.diff(target, await self.snapshot(target)):
            return Outcome(ok=True, changed=False, message="already at target")
        self.world.state(key).update(self.wanted)
        self.world.applied.append(key)
        if target.key in self.world.while_applying:
            await self.world.while_applying[target.key]()
        if target.key in self.world.crash_after_write:
            raise SimulatedCrash(key)
        await progress(f"scaled {target.label}")
        return Outcome(ok=True, changed=True, message="scaled")

    async def verify(self, target: Target) -> Outcome:
        ok = not self.diff(target, await self.snapshot(target))
        return Outcome(ok=ok, changed=False, message="at target" if ok else "not at target")

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        key = self._key(target)
        if target.key in self.world.crash_revert:
            raise SimulatedCrash(key)
        self.world.state(key).update(snapshot)
        self.world.reverted.append(key)
        if target.key in self.world.while_reverting:
            await self.world.while_reverting[target.key]()
        return Outcome(ok=True, changed=True, message="restored")

    async def read_back(self, target: Target) -> JSON:
        return await self.snapshot(target)


class FakeNote:
    """manual: a non-mutating action (nothing to snapshot or revert)."""

    mutating = False

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def describe(self) -> str:
        return f"Manual: {self.spec.instruction}"

    def targets(self) -> Sequence[Target]:
        return [Target("note", "the team")]

    async def snapshot(self, target: Target) -> JSON:
        return None

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        return []

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        return Outcome(ok=True, changed=False, message="noted")

    async def verify(self, target: Target) -> Outcome:
        return Outcome(ok=True, changed=False, message="noted")

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        return Outcome(ok=True, changed=False, message="nothing to revert")

    async def read_back(self, target: Target) -> JSON:
        return None


class FakeActions:
    def __init__(self, world: World) -> None:
        self.world = world

    def build(self, spec: Any, runbook: Runbook, environment: Environment) -> Action:
        if spec.kind == "cloud_run.scale":
            return FakeScale(spec, runbook, environment, self.world)
        if spec.kind == "manual":
            return FakeNote(spec)
        raise ValueError(f"the fake factory has no {spec.kind}")


class FakeChecker:
    """Metric values by name; a metric with no value is unknown (no data)."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    async def check(self, condition: Any, environment: Environment, now: datetime) -> CheckResult:
        value = self.values.get(condition.metric)
        text = condition.text or str(condition)
        if value is None:
            return CheckResult(text, None, None, None, "no data")
        passed = condition.holds(value, None)
        return CheckResult(text, passed, value, condition.threshold.value, f"{condition.metric} = {value}")


class FakeNotifier:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def notify(self, event: Event) -> None:
        self.events.append(event)

    def texts(self, kind: str | None = None) -> list[str]:
        return [e.text for e in self.events if kind is None or e.kind == kind]
