"""What the simulated cloud is made of: its errors, services with revisions, SQL instances, operations,
the changes listeners hear and the faults a test injects (bot/sim/world.py acts on them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.cloud.ports import SecretRef, ServiceConfig, SqlInstanceState, TrafficSplit


class WorldError(Exception):
    """A refusal the real API would give; ``code`` is the gRPC status name, ``http`` its HTTP status."""

    code = "UNKNOWN"
    http = 500


class Unavailable(WorldError):
    code, http = "UNAVAILABLE", 503


class TooManyRequests(WorldError):
    code, http = "RESOURCE_EXHAUSTED", 429


class PermissionDenied(WorldError):
    code, http = "PERMISSION_DENIED", 403


class NotFound(WorldError):
    code, http = "NOT_FOUND", 404


class Conflict(WorldError):
    code, http = "ABORTED", 409


class Invalid(WorldError):
    code, http = "INVALID_ARGUMENT", 400


class FailedPrecondition(WorldError):
    code, http = "FAILED_PRECONDITION", 400


def region_baseline(region: str) -> tuple[int, int]:
    """Min/max instances before the rollout, per the seed: US 3/100, EU and Asia 2/100."""
    return (3, 100) if region.startswith("us-") else (2, 100)


@dataclass(frozen=True)
class Revision:
    name: str
    image: str
    env: dict[str, str]
    min_instances: int
    max_instances: int
    secrets: dict[str, SecretRef] = field(default_factory=dict)


@dataclass
class RunService:
    project: str
    region: str
    name: str
    revisions: list[Revision]
    traffic: tuple[TrafficSplit, ...]
    generation: int = 1
    revision_counter: int = 1

    @property
    def latest(self) -> Revision:
        return self.revisions[-1]

    @property
    def etag(self) -> str:
        return f'W/"{self.generation}"'

    def config(self) -> ServiceConfig:
        latest = self.latest
        return ServiceConfig(
            project=self.project,
            region=self.region,
            name=self.name,
            min_instances=latest.min_instances,
            max_instances=latest.max_instances,
            env=dict(latest.env),
            secrets=dict(latest.secrets),
            image=latest.image,
            latest_revision=latest.name,
            traffic=self.traffic,
            etag=self.etag,
        )


@dataclass
class SqlInstance:
    project: str
    name: str
    tier: str
    state: str = "RUNNABLE"
    master: str | None = None  # a read replica of that primary
    region: str = "us-central1"
    database_version: str = "MYSQL_8_0"
    promoted_at: datetime | None = None
    replicas: list[str] = field(default_factory=list)

    def view(self) -> SqlInstanceState:
        return SqlInstanceState(
            project=self.project,
            name=self.name,
            tier=self.tier,
            state=self.state,
            master=self.master,
            region=self.region,
            database_version=self.database_version,
            replicas=tuple(self.replicas),
        )


@dataclass
class Operation:
    """A Cloud Run LRO or a Cloud SQL operation; the change lands when ``done_at`` passes."""

    name: str
    project: str
    subject: str  # service name or SQL instance name
    done_at: datetime
    land: Callable[[], None]
    done: bool = False
    error: WorldError | None = None
    kind: str = "UPDATE"  # Cloud SQL's operationType: UPDATE, CREATE_REPLICA, PROMOTE_REPLICA, DELETE
    ended_at: datetime | None = None


@dataclass(frozen=True)
class WorldChange:
    """What listeners hear: a service's or instance's new state."""

    kind: str  # "service" | "sql"
    project: str
    region: str | None
    name: str
    service: ServiceConfig | None = None
    instance: SqlInstanceState | None = None


@dataclass
class Faults:
    denied_regions: set[tuple[str, str]] = field(default_factory=set)  # (project, region), writes only
    transient: list[type[WorldError]] = field(default_factory=list)  # raised one per call, in order
    operation_delay: timedelta = timedelta(0)
    concurrent_edits: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)  # one-shot
