"""cloud_sql.replica: create a read replica on a given tier (instances.insert with masterInstanceName)
and wait for its operation; a rollback deletes the replica again, but never once it has been promoted.
"""

from __future__ import annotations

from typing import Any

from bot.actions._cloud_sql_common import InstanceAction, described, exists, role, shown
from bot.actions.base import ActionDeps, Binding
from bot.engine.ports import JSON, Action, ActionFailed, Change, Outcome, ProgressCallback, Target
from bot.runbook.durations import format_duration
from bot.runbook.models import CloudSqlReplica


class ReplicaAction(InstanceAction[CloudSqlReplica]):
    def describe(self) -> str:
        return (
            f"Create Cloud SQL read replica {self.spec.instance} of {self.spec.master} (project {self.project}) "
            f"on tier {self.spec.tier}, waiting up to {format_duration(self.spec.timeout)} for the operation"
        )

    def _wanted(self) -> str:
        return f"read replica of {self.spec.master} on {self.spec.tier}"

    async def snapshot(self, target: Target) -> JSON:
        return described(await self.deps.cloud_sql.find_instance(self.project, self.spec.instance))

    async def read_back(self, target: Target) -> JSON:
        return await self.snapshot(target)

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        if shown(snapshot) == self._wanted():
            return []
        return [Change(target.label, "instance", shown(snapshot), self._wanted())]

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        sql, name = self.deps.cloud_sql, self.spec.instance
        found = await sql.find_instance(self.project, name)
        if found is not None:
            if found.master == self.spec.master and found.tier == self.spec.tier:
                return Outcome(True, False, f"{target.label}: already a {self._wanted()}")
            raise ActionFailed(
                f"{target.label} already exists as a {role(found)} on {found.tier}, not a {self._wanted()}; "
                "nothing was changed; name a new replica in the runbook or delete that instance first"
            )
        master = await sql.get_instance(self.project, self.spec.master)
        if master.master is not None:
            raise ActionFailed(
                f"{self.spec.master} is itself a {role(master)}, so it cannot be the master of {name}; "
                "nothing was changed"
            )
        await progress(f"{target.label}: creating a {self._wanted()}; waiting for Cloud SQL (can take minutes)")
        made = await sql.create_replica(self.project, name, master, self.spec.tier, self.spec.timeout)
        return Outcome(True, True, f"{target.label}: created, a {role(made)} on {made.tier} ({made.state})")

    async def verify(self, target: Target) -> Outcome:
        found = await self.deps.cloud_sql.find_instance(self.project, self.spec.instance)
        if found is None:
            return Outcome(False, False, f"{target.label} does not exist")
        if found.master != self.spec.master or found.tier != self.spec.tier or found.state != "RUNNABLE":
            return Outcome(False, False, f"{target.label} is a {role(found)} on {found.tier} ({found.state})")
        return Outcome(True, False, f"{target.label}: {role(found)} on {found.tier}, RUNNABLE")

    def revert_refusal(self, target: Target, snapshot: JSON, live: JSON) -> str | None:
        """A replica that was promoted since is a primary now: deleting it would delete live data."""
        if exists(snapshot) is False and exists(live) and live.get("role") == "primary":
            return (
                f"{target.label} was promoted to a primary after it was created, so the rollback will not "
                f"delete it (it may hold the application's newest writes); nothing was changed. Roll back the "
                f"step that promoted it, or delete it by hand once nothing uses it."
            )
        return None

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        if exists(snapshot) is not False:
            return Outcome(True, False, f"{target.label} existed before the step; the rollback leaves it as it is")
        sql, name = self.deps.cloud_sql, self.spec.instance
        found = await sql.find_instance(self.project, name)
        if found is None:
            return Outcome(True, False, f"{target.label} is already gone, as before the step")
        refusal = self.revert_refusal(target, snapshot, described(found))
        if refusal is not None:
            raise ActionFailed(refusal)
        await progress(f"{target.label}: deleting the replica this step created; waiting for Cloud SQL")
        await sql.delete_instance(self.project, name, self.spec.timeout)
        return Outcome(True, True, f"{target.label}: replica deleted, as before the step")


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return ReplicaAction(spec, binding, deps)
