"""What every Cloud Run kind shares: targets per region, snapshot -> desired -> diff, idempotent
apply, exact revert, and failure messages that say which targets this action already changed.

A kind only says which fields it captures (``capture``), what it wants them to be
(``desired``) and how to write a snapshot-shaped dict back (``write``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.actions.base import ActionDeps, Binding
from bot.cloud.cloud_run import env_field
from bot.cloud.ports import SecretRef, ServiceConfig, TrafficSplit
from bot.engine.ports import JSON, ActionFailed, Change, Outcome, ProgressCallback, Target

UPDATE_TIMEOUT = timedelta(minutes=10)
Values = dict[str, Any]


def service_regions(service: str, regions: list[str] | str, binding: Binding) -> list[str]:
    """The regions an action names; "all" means every region of the runbook's service."""
    if regions != "all":
        return list(regions)
    known = binding.runbook.service(service)
    if known is None:
        names = ", ".join(s.name for s in binding.runbook.services) or "none"
        raise ActionFailed(
            f"the action targets service {service} with regions 'all', but the runbook lists no such "
            f"service (services: {names}); nothing was changed; add it to services or name the regions"
        )
    return list(known.regions)


def region_targets(service: str, regions: list[str] | str, binding: Binding) -> list[Target]:
    environment = binding.environment.name
    return [
        Target(key=f"{service}/{region}", label=f"{service} {region} ({environment})")
        for region in service_regions(service, regions, binding)
    ]


def traffic_json(splits: Sequence[TrafficSplit]) -> list[dict[str, Any]]:
    return [{"percent": s.percent, "revision": s.revision, "latest": s.latest, "tag": s.tag} for s in splits]


def traffic_splits(value: Any) -> tuple[TrafficSplit, ...]:
    return tuple(
        TrafficSplit(
            percent=int(s["percent"]),
            revision=s.get("revision"),
            latest=bool(s.get("latest")),
            tag=s.get("tag"),
        )
        for s in value
    )


def show_traffic(value: Any) -> str:
    """``90% ion-mentoring-api-00001, 10% latest (canary)``."""
    parts = []
    for split in traffic_splits(value):
        who = "latest" if split.latest else str(split.revision)
        parts.append(f"{split.percent}% {who}" + (f" ({split.tag})" if split.tag else ""))
    return ", ".join(parts) or "(none)"


def env_json(config: ServiceConfig, name: str) -> JSON:
    """A variable as a snapshot holds it: its value, ``{"secret", "version"}`` when Secret Manager
    fills it (so a revert points at the same secret again), or None when unset."""
    ref = config.secrets.get(name)
    if ref is not None:
        return {"secret": ref.secret, "version": ref.version}
    return config.env.get(name)


def show(field: str, value: Any) -> JSON:
    if field == "traffic" and value is not None:
        return show_traffic(value)
    if field.startswith("env ") and isinstance(value, dict):
        return f"secret {value.get('secret')} (version {value.get('version')})"
    return value


def fields_of(values: Values) -> Values:
    """The changeable fields; keys starting with "_" are context (e.g. the serving revision)."""
    return {key: value for key, value in values.items() if not key.startswith("_")}


def with_values(config: ServiceConfig, values: Values) -> tuple[ServiceConfig, frozenset[str]]:
    """Turn snapshot-shaped values (Cloud Run field names) into a config update and its fields."""
    fields: set[str] = set()
    updates: dict[str, Any] = {}
    if "minInstances" in values:
        updates["min_instances"] = int(values["minInstances"])
        fields.add("min_instances")
    if "maxInstances" in values:
        updates["max_instances"] = int(values["maxInstances"])
        fields.add("max_instances")
    env_keys = {key[4:]: value for key, value in values.items() if key.startswith("env ")}
    if env_keys:
        env, secrets = dict(config.env), dict(config.secrets)
        for name, value in env_keys.items():
            env.pop(name, None)
            secrets.pop(name, None)
            if isinstance(value, dict):
                secrets[name] = SecretRef(secret=str(value["secret"]), version=str(value.get("version") or ""))
            elif value is not None:
                env[name] = str(value)
            fields.add(env_field(name))  # only these variables are written; the others stay as they are
        updates["env"], updates["secrets"] = env, secrets
    if "image" in values:
        updates["image"] = str(values["image"])
        fields.add("image")
    if "traffic" in values:
        updates["traffic"] = traffic_splits(values["traffic"])
        fields.add("traffic")
    return replace(config, **updates), frozenset(fields)


class CloudRunAction(ABC):
    """One Cloud Run change over the regions of one service in the bound environment."""

    mutating = True

    def __init__(self, spec: Any, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        self.binding = binding
        self.deps = deps
        self.service: str = spec.service
        self.project = binding.environment.project
        self._targets = region_targets(spec.service, spec.regions, binding)
        self.changed: list[str] = []

    # -- what a kind says ---------------------------------------------------------------

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def capture(self, config: ServiceConfig) -> Values:
        """The fields this kind changes, keyed by their Cloud Run names."""

    @abstractmethod
    def desired(self, current: Values) -> Values:
        """What those fields should be after apply, given their current values."""

    def write(self, config: ServiceConfig, values: Values) -> tuple[ServiceConfig, frozenset[str]]:
        return with_values(config, values)

    def summary(self, values: Values) -> str:
        return ", ".join(f"{key} {_plain(show(key, value))}" for key, value in fields_of(values).items())

    # -- the Action protocol ----------------------------------------------------------

    def targets(self) -> Sequence[Target]:
        return list(self._targets)

    def region(self, target: Target) -> str:
        return target.key.split("/", 1)[1]

    @property
    def where(self) -> str:
        regions = ", ".join(self.region(t) for t in self._targets)
        return f"{self.service} in {regions} ({self.binding.environment.name})"

    async def live(self, target: Target) -> ServiceConfig:
        return await self.deps.cloud_run.get_service(self.project, self.region(target), self.service)

    async def _live_applying(self, target: Target) -> ServiceConfig:
        """A read on the way forward: a failure (a region that does not exist) also names the
        targets this action already changed."""
        try:
            return await self.live(target)
        except ActionFailed as error:
            raise ActionFailed(self._with_changed(error.message), retryable=error.retryable) from error

    async def snapshot(self, target: Target) -> JSON:
        return self.capture(await self._live_applying(target))

    async def read_back(self, target: Target) -> JSON:
        return self.capture(await self.live(target))

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        current: Values = dict(snapshot or {})
        wanted = self.desired(current)
        return [
            Change(target.label, key, show(key, current.get(key)), show(key, value))
            for key, value in wanted.items()
            if current.get(key) != value
        ]

    async def apply(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        config = await self._live_applying(target)
        current = self.capture(config)
        wanted = self.desired(current)
        if all(current.get(key) == value for key, value in wanted.items()):
            return Outcome(True, False, f"{target.label}: already at {self.summary(wanted)}")
        changes = "; ".join(
            f"{c.field} {_plain(c.before)} -> {_plain(c.after)}" for c in CloudRunAction.diff(self, target, current)
        )
        await progress(f"{target.label}: updating {changes}")
        await self._update(target, config, wanted)
        self.changed.append(target.label)
        return Outcome(True, True, f"{target.label}: {changes}", {"after": wanted})

    async def verify(self, target: Target) -> Outcome:
        current = self.capture(await self.live(target))
        wanted = self.desired(current)
        off = [key for key, value in wanted.items() if current.get(key) != value]
        if off:
            detail = ", ".join(f"{k} is {_plain(show(k, current.get(k)))}" for k in off)
            return Outcome(False, False, f"{target.label}: not at target: {detail}")
        return Outcome(True, False, f"{target.label}: at {self.summary(wanted)}")

    async def revert(self, target: Target, snapshot: JSON, progress: ProgressCallback) -> Outcome:
        before: Values = dict(snapshot or {})
        config = await self.live(target)
        current = self.capture(config)
        if all(current.get(key) == value for key, value in fields_of(before).items()):
            return Outcome(True, False, f"{target.label}: already at {self.summary(before)}")
        await progress(f"{target.label}: restoring {self.summary(before)}")
        await self._update(target, config, before)
        return Outcome(True, True, f"{target.label}: restored {self.summary(before)}")

    async def _update(self, target: Target, config: ServiceConfig, values: Values) -> None:
        update, fields = self.write(config, values)
        try:
            await self.deps.cloud_run.update_service(update, fields, UPDATE_TIMEOUT)
        except ActionFailed as error:
            raise ActionFailed(self._with_changed(error.message), retryable=error.retryable) from error

    def _with_changed(self, message: str) -> str:
        if not self.changed:
            return message
        return f"{message}. Already changed by this action: {', '.join(self.changed)}; roll back to restore them"


def _plain(value: JSON) -> str:
    return "(unset)" if value is None else str(value)
