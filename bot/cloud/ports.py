"""What the action kinds need from Cloud Run and Cloud SQL; real (Google) and sim adapters implement it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True)
class TrafficSplit:
    """One traffic entry: a named revision, or the latest ready revision when ``latest`` is True."""

    percent: int
    revision: str | None = None
    latest: bool = False
    tag: str | None = None


@dataclass(frozen=True)
class SecretRef:
    """An env var Cloud Run fills from Secret Manager (``value_source.secret_key_ref``); the bot
    never sees the value, only which secret and version, so a revert can point at it again."""

    secret: str
    version: str = "latest"


@dataclass(frozen=True)
class ServiceConfig:
    """The parts of a Cloud Run service the runbook changes, plus the etag for safe updates."""

    project: str
    region: str
    name: str
    min_instances: int
    max_instances: int
    env: dict[str, str] = field(default_factory=dict)  # plain values
    secrets: dict[str, SecretRef] = field(default_factory=dict)  # secret-backed; a name is in one of the two
    image: str = ""
    latest_revision: str = ""
    traffic: tuple[TrafficSplit, ...] = ()
    etag: str = ""


class CloudRunApi(Protocol):
    async def get_service(self, project: str, region: str, service: str) -> ServiceConfig: ...

    async def update_service(self, config: ServiceConfig, fields: frozenset[str], timeout: timedelta) -> ServiceConfig:
        """Write ``fields`` of ``config`` (guarded by its etag) and wait for the operation.

        ``"env NAME"`` writes only that variable (from ``env`` or ``secrets``; unset when in neither).
        """
        ...


@dataclass(frozen=True)
class SqlInstanceState:
    project: str
    name: str
    tier: str
    state: str  # RUNNABLE, MAINTENANCE, PENDING_CREATE, ...
    master: str | None = None  # set while the instance is a read replica of that primary
    region: str = ""
    database_version: str = ""
    replicas: tuple[str, ...] = ()


class CloudSqlApi(Protocol):
    async def get_instance(self, project: str, instance: str) -> SqlInstanceState: ...

    async def find_instance(self, project: str, instance: str) -> SqlInstanceState | None:
        """The instance, or None when it does not exist (a replica not created yet, a standby deleted)."""
        ...

    async def set_tier(self, project: str, instance: str, tier: str, timeout: timedelta) -> SqlInstanceState:
        """Patch the tier and wait for Cloud SQL's operation to be DONE."""
        ...

    async def create_replica(
        self, project: str, instance: str, master: SqlInstanceState, tier: str, timeout: timedelta
    ) -> SqlInstanceState:
        """instances.insert with masterInstanceName, and wait for the operation."""
        ...

    async def promote_replica(self, project: str, instance: str, timeout: timedelta) -> SqlInstanceState:
        """instances.promoteReplica, and wait for the operation."""
        ...

    async def delete_instance(self, project: str, instance: str, timeout: timedelta) -> None:
        """instances.delete, and wait for the operation."""
        ...

    async def promoted_at(self, project: str, instance: str) -> datetime | None:
        """When the instance's last promotion (a PROMOTE_REPLICA operation) finished; None if never."""
        ...
