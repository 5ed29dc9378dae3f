"""What the action kinds need from Cloud Run and Cloud SQL; real (Google) and sim adapters implement it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol


@dataclass(frozen=True)
class TrafficSplit:
    """One traffic entry: a named revision, or the latest ready revision when ``latest`` is True."""

    percent: int
    revision: str | None = None
    latest: bool = False
    tag: str | None = None


@dataclass(frozen=True)
class ServiceConfig:
    """The parts of a Cloud Run service the runbook changes, plus the etag for safe updates."""

    project: str
    region: str
    name: str
    min_instances: int
    max_instances: int
    env: dict[str, str] = field(default_factory=dict)
    image: str = ""
    latest_revision: str = ""
    traffic: tuple[TrafficSplit, ...] = ()
    etag: str = ""


class CloudRunApi(Protocol):
    async def get_service(self, project: str, region: str, service: str) -> ServiceConfig: ...

    async def update_service(self, config: ServiceConfig, fields: frozenset[str], timeout: timedelta) -> ServiceConfig:
        """Write ``fields`` of ``config`` (guarded by its etag) and wait for the operation."""
        ...


@dataclass(frozen=True)
class SqlInstanceState:
    project: str
    name: str
    tier: str
    state: str  # RUNNABLE, MAINTENANCE, ...


class CloudSqlApi(Protocol):
    async def get_instance(self, project: str, instance: str) -> SqlInstanceState: ...

    async def set_tier(self, project: str, instance: str, tier: str, timeout: timedelta) -> SqlInstanceState:
        """Patch the tier and wait for Cloud SQL's operation to be DONE."""
        ...
