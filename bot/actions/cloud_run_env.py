"""cloud_run.env: set and unset environment variables (Cloud Run makes a new revision)."""

from __future__ import annotations

from typing import Any

from bot.actions._cloud_run_common import CloudRunAction, Values, env_json
from bot.actions.base import ActionDeps, Binding
from bot.cloud.ports import ServiceConfig
from bot.engine.ports import Action
from bot.runbook.models import CloudRunEnv


class EnvAction(CloudRunAction):
    spec: CloudRunEnv

    def describe(self) -> str:
        parts = []
        if self.spec.set:
            parts.append("set " + ", ".join(f"{k}={v}" for k, v in self.spec.set.items()))
        if self.spec.unset:
            parts.append("unset " + ", ".join(self.spec.unset))
        return f"Env of {self.where}: {'; '.join(parts) or 'no change'} (a new revision)"

    def names(self) -> list[str]:
        return [*self.spec.set, *(name for name in self.spec.unset if name not in self.spec.set)]

    def capture(self, config: ServiceConfig) -> Values:
        return {f"env {name}": env_json(config, name) for name in self.names()}

    def desired(self, current: Values) -> Values:
        wanted: Values = {f"env {name}": value for name, value in self.spec.set.items()}
        wanted.update({f"env {name}": None for name in self.spec.unset if name not in self.spec.set})
        return wanted


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return EnvAction(spec, binding, deps)
