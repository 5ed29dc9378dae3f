"""cloud_run.scale: set min and/or max instances of a service's revision template, per region."""

from __future__ import annotations

from typing import Any

from bot.actions._cloud_run_common import CloudRunAction, Values
from bot.actions.base import ActionDeps, Binding
from bot.cloud.ports import ServiceConfig
from bot.engine.ports import Action
from bot.runbook.models import CloudRunScale


class ScaleAction(CloudRunAction):
    spec: CloudRunScale

    def describe(self) -> str:
        wanted = []
        if self.spec.min_instances is not None:
            wanted.append(f"minInstances {self.spec.min_instances}")
        if self.spec.max_instances is not None:
            wanted.append(f"maxInstances {self.spec.max_instances}")
        return f"Scale {self.where}: {', '.join(wanted)}"

    def capture(self, config: ServiceConfig) -> Values:
        captured: Values = {}
        if self.spec.min_instances is not None:
            captured["minInstances"] = config.min_instances
        if self.spec.max_instances is not None:
            captured["maxInstances"] = config.max_instances
        return captured

    def desired(self, current: Values) -> Values:
        wanted: Values = {}
        if self.spec.min_instances is not None:
            wanted["minInstances"] = self.spec.min_instances
        if self.spec.max_instances is not None:
            wanted["maxInstances"] = self.spec.max_instances
        return wanted


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return ScaleAction(spec, binding, deps)
