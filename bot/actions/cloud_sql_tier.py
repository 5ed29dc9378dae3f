"""cloud_sql.tier: change a Cloud SQL instance's machine tier and wait for Cloud SQL's operation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.actions.base import ActionDeps, Binding
from bot.engine.ports import JSON, Action, Change, Outcome, ProgressCallback, Target
from bot.runbook.durations import format_duration
from bot.runbook.models import CloudSqlTier


class TierAction:
    mutating = True

    def __init__(self, spec: CloudSqlTier, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        self.deps = deps
        self.project = binding.environment.project
        self.target = Target(key=spec.instance, label=f"{spec.instance} ({binding.environment.name})")

    def describe(self) -> str:
        return (
            f"Change Cloud SQL {self.spec.instance} (project {self.project}) to tier {self.spec.tier}, "
            f"waiting up to {format_duration(self.spec.timeout)} for the operation"
        )

    def targets(self) -> Sequence[Target]:
        return [self.target]

    async def _tier(self) -> str:
        return (await self.deps.cloud_sql.get_instance(self.project, self.spec.instance)).tier

    async def snapshot(self, target: Target) -> JSON:
        return {"tier": await self._tier()}

    async def read_back(self, target: Target) -> JSON:
        return {"tier": await self._tier()}

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        before = (snapshot or {}).get("tier")
        return [] if before == self.spec.tier else [Change(target.label, "tier", before, self.spec.tier)]

    async def _set(self, target: Target, tier: str, progress: ProgressCallback) -> Outcome:
        before = await self._tier()
        if before == tier:
            return Outcome(True, False, f"{target.label}: already at tier {tier}")
        await progress(f"{target.label}: tier {before} -> {tier}; waiting for Cloud SQL (can take minutes)")
        after = await self.deps.cloud_sql.set_tier(self.project, self.spec.instance, tier, self.spec.timeout)
        return Outcome(after.tier == tier, True, f"{target.label}: tier {before} -> {after.tier}")

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        return await self._set(target, self.spec.tier, progress)

    async def verify(self, target: Target) -> Outcome:
        state = await self.deps.cloud_sql.get_instance(self.project, self.spec.instance)
        if state.tier != self.spec.tier:
            return Outcome(False, False, f"{target.label}: tier is {state.tier}, expected {self.spec.tier}")
        return Outcome(True, False, f"{target.label}: at tier {state.tier} ({state.state})")

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        return await self._set(target, str((snapshot or {})["tier"]), progress)


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return TierAction(spec, binding, deps)
