"""cloud_sql.delete: delete the standby (the old primary) once the replica that replaced it has been
promoted for ``keep_for`` (48 hours in week17), read from Cloud SQL's own PROMOTE_REPLICA operation.

The step's approvals are what allow it; a deleted instance cannot be restored by the bot, so a rollback
refuses and says so (the way back is a restore from backup, by hand).
"""

from __future__ import annotations

from typing import Any

from bot.actions._cloud_sql_common import InstanceAction, described, exists, role, shown
from bot.actions.base import ActionDeps, Binding
from bot.engine.ports import JSON, Action, ActionFailed, Change, Outcome, ProgressCallback, Target
from bot.runbook.durations import format_duration
from bot.runbook.models import CloudSqlDelete


class DeleteAction(InstanceAction[CloudSqlDelete]):
    def describe(self) -> str:
        return (
            f"Delete Cloud SQL instance {self.spec.instance} (project {self.project}), the standby, once "
            f"{self.spec.after_promotion_of} has been a primary for {format_duration(self.spec.keep_for)}; "
            "cannot be undone"
        )

    async def snapshot(self, target: Target) -> JSON:
        return described(await self.deps.cloud_sql.find_instance(self.project, self.spec.instance))

    async def read_back(self, target: Target) -> JSON:
        return await self.snapshot(target)

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        return [Change(target.label, "instance", shown(snapshot), "deleted")] if exists(snapshot) else []

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        sql, spec = self.deps.cloud_sql, self.spec
        found = await sql.find_instance(self.project, spec.instance)
        if found is None:
            return Outcome(True, False, f"{target.label} is already deleted")
        await self._require_kept(target, found.replicas)
        await progress(f"{target.label}: deleting the standby ({role(found)} on {found.tier}); waiting for Cloud SQL")
        await sql.delete_instance(self.project, spec.instance, spec.timeout)
        return Outcome(True, True, f"{target.label}: deleted ({role(found)} on {found.tier} before)")

    async def _require_kept(self, target: Target, replicas: tuple[str, ...]) -> None:
        """Refuse unless the replacement is a primary and the standby has been kept long enough."""
        spec, clock = self.spec, self.deps.clock
        successor = await self.deps.cloud_sql.find_instance(self.project, spec.after_promotion_of)
        promoted = await self.deps.cloud_sql.promoted_at(self.project, spec.after_promotion_of)
        if spec.instance == spec.after_promotion_of or successor is None or successor.master or promoted is None:
            raise ActionFailed(
                f"{spec.after_promotion_of} has not been promoted to a primary, so {target.label} may still be the "
                "database in use; nothing was deleted"
            )
        until = promoted + spec.keep_for
        if clock.now() < until:
            kept = format_duration(clock.now() - promoted)
            raise ActionFailed(
                f"{target.label} is kept as the standby for {format_duration(spec.keep_for)} after "
                f"{spec.after_promotion_of} was promoted ({promoted:%a %H:%M} UTC), so only {kept} so far; "
                f"nothing was deleted; run this step again after {until:%a %H:%M} UTC"
            )
        if replicas:
            raise ActionFailed(
                f"{target.label} still has read replicas ({', '.join(replicas)}); nothing was deleted; "
                "delete or promote them first"
            )

    async def verify(self, target: Target) -> Outcome:
        found = await self.deps.cloud_sql.find_instance(self.project, self.spec.instance)
        if found is not None:
            return Outcome(False, False, f"{target.label} still exists ({found.state})")
        return Outcome(True, False, f"{target.label} is deleted")

    def revert_refusal(self, target: Target, snapshot: JSON, live: JSON) -> str | None:
        if not exists(snapshot) or exists(live):
            return None
        return (
            f"{target.label} was deleted, and a deleted Cloud SQL instance cannot be brought back by the bot, so "
            "this rollback changed nothing; the way back is a new instance from a retained or exported backup, "
            "made by hand."
        )

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        refusal = self.revert_refusal(target, snapshot, await self.read_back(target))
        if refusal is not None:
            raise ActionFailed(refusal)
        return Outcome(True, False, f"{target.label} was not deleted by this step; nothing to revert")


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return DeleteAction(spec, binding, deps)
