"""What the Cloud SQL instance kinds share: the target, an instance's role in words, the snapshot shape."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from bot.actions.base import ActionDeps, Binding
from bot.cloud.ports import SqlInstanceState
from bot.engine.ports import JSON, Target


class _NamesInstance(Protocol):
    @property
    def instance(self) -> str: ...


S = TypeVar("S", bound=_NamesInstance)

ABSENT: dict[str, JSON] = {"exists": False}


def instance_target(instance: str, binding: Binding) -> Target:
    return Target(key=instance, label=f"{instance} ({binding.environment.name})")


class InstanceAction(Generic[S]):
    """A mutating kind on one Cloud SQL instance of the environment's project: its spec, the gateway, the target."""

    mutating = True

    def __init__(self, spec: S, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        self.deps = deps
        self.project = binding.environment.project
        self.target = instance_target(spec.instance, binding)

    def targets(self) -> Sequence[Target]:
        return [self.target]


def role(state: SqlInstanceState) -> str:
    """ "read replica of ion-primary" or "primary": what promotion changes."""
    return f"read replica of {state.master}" if state.master else "primary"


def described(state: SqlInstanceState | None) -> dict[str, JSON]:
    """Snapshot and read-back shape: whether it exists, its role and tier (state is context)."""
    if state is None:
        return dict(ABSENT)
    return {"exists": True, "role": role(state), "tier": state.tier, "_state": state.state}


def exists(snapshot: JSON) -> bool | None:
    """What a snapshot says about existence; None when it is not a snapshot of this shape."""
    value = snapshot.get("exists") if isinstance(snapshot, dict) else None
    return value if isinstance(value, bool) else None


def shown(snapshot: JSON) -> str:
    if not exists(snapshot):
        return "absent"
    return f"{snapshot.get('role')} on {snapshot.get('tier')}"
