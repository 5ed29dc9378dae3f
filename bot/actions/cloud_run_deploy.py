"""cloud_run.deploy: a new revision from an image (or the current image with new env), with no
traffic or a canary share.

Traffic that followed "latest" is pinned to the revision serving now, so the new revision
gets only ``traffic_percent`` (and its tag); revert writes back image, env and split. Without
``image`` this is ``gcloud run deploy`` with only env changes: a configuration-only canary.
"""

from __future__ import annotations

from typing import Any

from bot.actions._cloud_run_common import CloudRunAction, Values, env_json, traffic_json, traffic_splits
from bot.actions.base import ActionDeps, Binding
from bot.actions.cloud_run_traffic import canary_split
from bot.cloud.ports import ServiceConfig
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
        image = self.spec.image or "the same image"
        return f"Deploy {image} to {self.where} as a new revision ({', '.join(extras)})"

    def capture(self, config: ServiceConfig) -> Values:
        captured: Values = {"image": config.image} if self.spec.image is not None else {}
        captured.update({f"env {name}": env_json(config, name) for name in self.spec.env})
        captured["traffic"] = traffic_json(config.traffic)
        captured["_revision"] = config.latest_revision
        return captured

    def template(self) -> Values:
        """The revision template this deploy wants: image (when given) and env."""
        wanted: Values = {"image": self.spec.image} if self.spec.image is not None else {}
        wanted.update({f"env {name}": value for name, value in self.spec.env.items()})
        return wanted

    def desired(self, current: Values) -> Values:
        wanted = self.template()
        if all(current.get(key) == value for key, value in wanted.items()):
            wanted["traffic"] = current.get("traffic")
            return wanted
        serving = str(current.get("_revision") or "")
        splits = traffic_splits(current.get("traffic") or [])
        split = canary_split(splits, serving, self.spec.tag, self.spec.traffic_percent, self.where)
        wanted["traffic"] = traffic_json(split)
        return wanted


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return DeployAction(spec, binding, deps)
