"""scaling.schedule (day 2.3): time-of-day min/max rules instead of a cron script.

Apply stores the rule set in the settings store and applies the window that holds now; the
scheduler calls ``apply_scaling_rules`` each hour to follow the windows. Revert removes the
rules (or puts back the set that was there) and restores min/max from the snapshot.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.actions._cloud_run_common import UPDATE_TIMEOUT, CloudRunAction, Values
from bot.actions.base import ActionDeps, Binding
from bot.cloud.ports import ServiceConfig
from bot.engine.ports import JSON, Action, ActionFailed, Change, Outcome, ProgressCallback, Target
from bot.runbook.models import Runbook, ScalingRule, ScalingSchedule


def settings_key(environment: str, service: str) -> str:
    return f"scaling:{environment}:{service}"


def _rule_json(rule: ScalingRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "start": rule.start.strftime("%H:%M"),
        "end": rule.end.strftime("%H:%M"),
        "min_instances": rule.min_instances,
        "max_instances": rule.max_instances,
    }


def _holds(rule: dict[str, Any], at: time) -> bool:
    start, end = time.fromisoformat(rule["start"]), time.fromisoformat(rule["end"])
    if start <= end:
        return start <= at < end
    return at >= start or at < end  # a window across midnight


def current_rule(rule_set: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The rule whose [start, end) holds at ``now`` in the set's time zone, else 'otherwise'."""
    local = now.astimezone(ZoneInfo(rule_set["timezone"])).time()
    return next((r for r in rule_set["rules"] if _holds(r, local)), rule_set["otherwise"])


def show_rules(rule_set: JSON) -> str | None:
    if not rule_set:
        return None
    windows = [f"{r['start']}-{r['end']} {r['min_instances']}/{r['max_instances']}" for r in rule_set["rules"]]
    other = rule_set["otherwise"]
    return f"{', '.join(windows)}, otherwise {other['min_instances']}/{other['max_instances']} (min/max)"


class ScheduleAction(CloudRunAction):
    spec: ScalingSchedule

    def __init__(self, spec: Any, binding: Binding, deps: ActionDeps) -> None:
        super().__init__(spec, binding, deps)
        self.key = settings_key(binding.environment.name, self.service)
        self.rule_set: dict[str, Any] = {
            "environment": binding.environment.name,
            "project": self.project,
            "service": self.service,
            "regions": [self.region(t) for t in self._targets],
            "timezone": spec.timezone or binding.runbook.calendar.timezone,
            "rules": [_rule_json(r) for r in spec.rules],
            "otherwise": _rule_json(spec.otherwise),
        }

    def describe(self) -> str:
        return f"Time-of-day scaling for {self.where}: {show_rules(self.rule_set)}; checked every hour"

    def capture(self, config: ServiceConfig) -> Values:
        return {"minInstances": config.min_instances, "maxInstances": config.max_instances}

    def desired(self, current: Values) -> Values:
        rule = current_rule(self.rule_set, self.deps.clock.now())
        return {"minInstances": rule["min_instances"], "maxInstances": rule["max_instances"]}

    async def snapshot(self, target: Target) -> JSON:
        captured = self.capture(await self.live(target))
        captured["_rules"] = await self.deps.settings.get_value(self.key)
        return captured

    async def read_back(self, target: Target) -> JSON:
        return await self.snapshot(target)

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        changes = super().diff(target, snapshot)
        before = (snapshot or {}).get("_rules")
        if target == self._targets[0] and before != self.rule_set:
            changes.append(Change(target.label, "scaling rules", show_rules(before), show_rules(self.rule_set)))
        return changes

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        stored = await self.deps.settings.get_value(self.key)
        if stored != self.rule_set:
            await self.deps.settings.put_value(self.key, self.rule_set)
        outcome = await super().apply(target, snapshot, progress)
        if stored != self.rule_set and not outcome.changed:
            return Outcome(True, True, f"{outcome.message}; scaling rules stored", outcome.data)
        return outcome

    async def verify(self, target: Target) -> Outcome:
        if await self.deps.settings.get_value(self.key) != self.rule_set:
            return Outcome(False, False, f"{target.label}: the scaling rules are not stored")
        return await super().verify(target)

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        before = (snapshot or {}).get("_rules")
        if before is None:
            await self.deps.settings.delete_value(self.key)
        else:
            await self.deps.settings.put_value(self.key, before)
        return await super().revert(target, snapshot, progress)


async def apply_scaling_rules(deps: ActionDeps, runbook: Runbook, now: datetime) -> list[str]:
    """Set each stored rule set's current window in every region; returns what changed (or failed)."""
    report: list[str] = []
    for environment in runbook.environments:
        for service in runbook.services:
            rule_set = await deps.settings.get_value(settings_key(environment.name, service.name))
            if not rule_set:
                continue
            rule = current_rule(rule_set, now)
            for region in rule_set["regions"]:
                label = f"{service.name} {region} ({environment.name})"
                try:
                    line = await _follow(deps, rule_set["project"], region, service.name, rule)
                except ActionFailed as error:
                    report.append(f"{label}: not changed: {error.message}")
                    continue
                if line:
                    report.append(f"{label}: {line} ({rule['name']})")
    return report


async def _follow(deps: ActionDeps, project: str, region: str, service: str, rule: dict[str, Any]) -> str:
    config = await deps.cloud_run.get_service(project, region, service)
    low, high = int(rule["min_instances"]), int(rule["max_instances"])
    if (config.min_instances, config.max_instances) == (low, high):
        return ""
    update = replace(config, min_instances=low, max_instances=high)
    await deps.cloud_run.update_service(update, frozenset({"min_instances", "max_instances"}), UPDATE_TIMEOUT)
    parts = []
    if config.min_instances != low:
        parts.append(f"minInstances {config.min_instances} -> {low}")
    if config.max_instances != high:
        parts.append(f"maxInstances {config.max_instances} -> {high}")
    return ", ".join(parts)


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return ScheduleAction(spec, binding, deps)
