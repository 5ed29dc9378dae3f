"""cloud_run.deploy: a new revision from an image, with no traffic or a canary share.

Traffic that followed "latest" is pinned to the revision serving now, so the new revision
gets only ``traffic_percent`` (and its tag); revert writes back image, env and split.
"""

from __future__ import annotations

from typing import Any

from bot.actions._cloud_run_common import CloudRunAction, Values, traffic_json, traffic_splits
from bot.actions.base import ActionDeps, Binding
from bot.actions.cloud_run_traffic import route
from bot.cloud.ports import ServiceConfig, TrafficSplit
from bot.engine.ports import Action
from bot.runbook.models import CloudRunDeploy


class DeployAction(CloudRunAction):
    spec: CloudRunDeploy

    def describe(self) -> str:
        extras = [f"{self.spec.traffic_percent}% traffic"]
        if self.spec.tag:
            extras.append(f"tag {self.spec.tag}")
        if self.spec.env:
            extras.append("env " + ", ".join(f"{k}={v}" for k, v in self.spec.env.items()))
        return f"Deploy {self.spec.image} to {self.where} as a new revision ({', '.join(extras)})"

    def capture(self, config: ServiceConfig) -> Values:
        captured: Values = {"image": config.image}
        captured.update({f"env {name}": config.env.get(name) for name in self.spec.env})
        captured["traffic"] = traffic_json(config.traffic)
        captured["_revision"] = config.latest_revision
        return captured

    def desired(self, current: Values) -> Values:
        wanted: Values = {"image": self.spec.image}
        wanted.update({f"env {name}": value for name, value in self.spec.env.items()})
        if all(current.get(key) == value for key, value in wanted.items()):
            wanted["traffic"] = current.get("traffic")
            return wanted
        serving = str(current.get("_revision") or "")
        pinned = tuple(
            TrafficSplit(s.percent, serving, False, None if s.tag == self.spec.tag else s.tag)
            if s.latest
            else TrafficSplit(s.percent, s.revision, False, None if s.tag == self.spec.tag else s.tag)
            for s in traffic_splits(current.get("traffic") or [])
        )
        fresh = (*pinned, TrafficSplit(0, None, True, self.spec.tag))
        wanted["traffic"] = traffic_json(route(fresh, "latest", self.spec.traffic_percent, self.where))
        return wanted


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return DeployAction(spec, binding, deps)
