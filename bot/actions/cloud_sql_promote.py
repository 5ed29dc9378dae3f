"""cloud_sql.promote: promote a read replica to a standalone primary (instances.promoteReplica) and wait.

Cloud SQL cannot demote a primary back to a replica, so there is no exact revert: a rollback after the
promotion refuses before changing anything and says what the fallback is, the standby (the old primary).
"""

from __future__ import annotations

from typing import Any

from bot.actions._cloud_sql_common import InstanceAction, described, role
from bot.actions.base import ActionDeps, Binding
from bot.engine.ports import JSON, Action, ActionFailed, Change, Outcome, ProgressCallback, Target
from bot.runbook.durations import format_duration
from bot.runbook.models import CloudSqlPromote


class PromoteAction(InstanceAction[CloudSqlPromote]):
    def describe(self) -> str:
        return (
            f"Promote Cloud SQL replica {self.spec.instance} (project {self.project}) to a standalone primary, "
            f"waiting up to {format_duration(self.spec.timeout)}; {self.spec.standby} stays as the standby. "
            "A promotion cannot be undone: the fallback is the standby"
        )

    async def snapshot(self, target: Target) -> JSON:
        return await self.read_back(target)

    async def read_back(self, target: Target) -> JSON:
        return _role_only(described(await self.deps.cloud_sql.find_instance(self.project, self.spec.instance)))

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        before = (snapshot or {}).get("role")
        if before == "absent":  # planned before the step's cloud_sql.replica has created it
            before = f"read replica of {self.spec.standby} (once created)"
        return [] if before == "primary" else [Change(target.label, "role", before, "primary")]

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        sql = self.deps.cloud_sql
        found = await sql.get_instance(self.project, self.spec.instance)
        if found.master is None:
            return Outcome(True, False, f"{target.label}: already a primary")
        if found.master != self.spec.standby:
            raise ActionFailed(
                f"{target.label} is a {role(found)}, not of {self.spec.standby} as the runbook says, so it was not "
                "promoted and nothing was changed; fix the runbook's standby"
            )
        if found.state != "RUNNABLE":
            raise ActionFailed(f"{target.label} is {found.state}, not RUNNABLE; nothing was changed; try again later")
        await progress(f"{target.label}: promoting to primary; {self.spec.standby} stays as the standby")
        after = await sql.promote_replica(self.project, self.spec.instance, self.spec.timeout)
        return Outcome(
            after.master is None,
            True,
            f"{target.label}: promoted from {role(found)} to {role(after)}; {self.spec.standby} is the standby",
        )

    async def verify(self, target: Target) -> Outcome:
        found = await self.deps.cloud_sql.get_instance(self.project, self.spec.instance)
        if found.master is not None:
            return Outcome(False, False, f"{target.label} is still a {role(found)}")
        return Outcome(True, False, f"{target.label}: a primary ({found.state})")

    def revert_refusal(self, target: Target, snapshot: JSON, live: JSON) -> str | None:
        if (live or {}).get("role") != "primary" or (snapshot or {}).get("role") == "primary":
            return None
        return (
            f"{target.label} was promoted to a standalone primary, and Cloud SQL cannot demote a primary back to "
            f"a read replica, so this rollback cannot undo the promotion and changed nothing. The fallback is "
            f"the standby {self.spec.standby} (the old primary, kept until its deletion is approved): point the "
            f"application back at {self.spec.standby} (writes made on {self.spec.instance} since the promotion are "
            f"not on it), then delete {self.spec.instance} by hand once nothing uses it."
        )

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        refusal = self.revert_refusal(target, snapshot, await self.read_back(target))
        if refusal is not None:
            raise ActionFailed(refusal)
        return Outcome(True, False, f"{target.label} was not promoted by this step; nothing to revert")


def _role_only(snapshot: dict[str, JSON]) -> dict[str, JSON]:
    """Promotion changes the role; the tier is another action's business (and stays the same)."""
    return {"role": snapshot.get("role", "absent"), "_tier": snapshot.get("tier")}


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return PromoteAction(spec, binding, deps)
