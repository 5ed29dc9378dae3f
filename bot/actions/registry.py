"""Maps an action kind to the module that builds it, so the engine binds runbook actions by name.

Each kind lives in its own module exposing ``build(spec, binding, deps) -> Action``; the
registry is the one place that knows them all, and the engine sees it as an ActionFactory.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from typing import Any

from bot.actions.base import ActionDeps, Binding
from bot.engine.ports import Action
from bot.runbook.models import Environment, Runbook

ActionBuilder = Callable[[Any, Binding, ActionDeps], Action]

# kind -> module under bot.actions exposing build(spec, binding, deps).
KIND_MODULES: dict[str, str] = {
    "cloud_run.scale": "cloud_run_scale",
    "cloud_run.env": "cloud_run_env",
    "cloud_run.traffic": "cloud_run_traffic",
    "cloud_run.deploy": "cloud_run_deploy",
    "cloud_sql.tier": "cloud_sql_tier",
    "cloud_sql.replica": "cloud_sql_replica",
    "cloud_sql.promote": "cloud_sql_promote",
    "cloud_sql.delete": "cloud_sql_delete",
    "scaling.schedule": "scaling_schedule",
    "http.smoke": "http_smoke",
    "http.load": "http_load",
    "sql.query": "sql_query",
    "sql.execute": "sql_execute",
    "sql.benchmark": "sql_benchmark",
    "metric.gate": "metric_gate",
    "wait": "wait",
    "manual": "manual",
}


class UnknownActionKind(LookupError):
    """The runbook names an action kind no module provides."""


class ActionRegistry:
    """Builds bound actions from runbook action models; implements the engine's ActionFactory."""

    def __init__(self, deps: ActionDeps, builders: dict[str, ActionBuilder] | None = None) -> None:
        self.deps = deps
        self._builders: dict[str, ActionBuilder] = dict(builders or {})

    def register(self, kind: str, builder: ActionBuilder) -> None:
        self._builders[kind] = builder

    def kinds(self) -> list[str]:
        return sorted(self._builders)

    def build(self, spec: Any, runbook: Runbook, environment: Environment) -> Action:
        kind = getattr(spec, "kind", None)
        builder = self._builders.get(kind) if isinstance(kind, str) else None
        if builder is None:
            known = ", ".join(self.kinds()) or "none"
            raise UnknownActionKind(
                f"no action kind {kind!r} is registered, so this action cannot run; known kinds: {known}"
            )
        return builder(spec, Binding(runbook=runbook, environment=environment), self.deps)


def default_registry(deps: ActionDeps, kinds: Iterable[str] | None = None) -> ActionRegistry:
    """A registry with every built-in kind (or only ``kinds``), each imported from its module."""
    registry = ActionRegistry(deps)
    for kind in kinds if kinds is not None else KIND_MODULES:
        module_name = KIND_MODULES.get(kind)
        if module_name is None:
            known = ", ".join(KIND_MODULES)
            raise UnknownActionKind(f"no module provides action kind {kind!r}; known kinds: {known}")
        module = importlib.import_module(f"bot.actions.{module_name}")
        registry.register(kind, module.build)
    return registry
