"""An in-memory Cloud Run and Cloud SQL that behave like the real ones where the bot can tell.

Services keep revisions, a traffic split, a generation and an etag; a template change makes
a new revision, an etag mismatch is refused. Faults can be injected (permission denied in a
region, a burst of 503s, slow operations, a concurrent edit) and listeners hear every change.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.cloud.cloud_run import ENV_FIELD, env_names, put_env
from bot.cloud.ports import SecretRef, ServiceConfig, SqlInstanceState, TrafficSplit
from bot.runbook.models import Runbook
from bot.sim.world_records import (
    Conflict,
    FailedPrecondition,
    Faults,
    Invalid,
    NotFound,
    Operation,
    PermissionDenied,
    Revision,
    RunService,
    SqlInstance,
    TooManyRequests,
    Unavailable,
    WorldChange,
    WorldError,
    region_baseline,
)

TEMPLATE_FIELDS = frozenset({"min_instances", "max_instances", "env", "image"})
SERVICE_FIELDS = TEMPLATE_FIELDS | {"traffic"}
DEFAULT_SQL_TIER = "db-custom-16-32768"
BASELINE_ENV = {"CACHE_MAX_ITEMS": "1000", "CACHE_TTL": "60"}
OTHER_WRITER_ENV = {"EDITED_ELSEWHERE": "true"}

__all__ = [
    "BASELINE_ENV",
    "DEFAULT_SQL_TIER",
    "OTHER_WRITER_ENV",
    "SERVICE_FIELDS",
    "TEMPLATE_FIELDS",
    "Conflict",
    "FailedPrecondition",
    "Faults",
    "Invalid",
    "NotFound",
    "Operation",
    "PermissionDenied",
    "Revision",
    "RunService",
    "SqlInstance",
    "TooManyRequests",
    "Unavailable",
    "World",
    "WorldChange",
    "WorldError",
    "region_baseline",
]


class World:
    """The whole fake cloud, shared by the sim adapters and the facades."""

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self.now = now or (lambda: datetime.now(UTC))
        self.services: dict[tuple[str, str, str], RunService] = {}
        self.sql: dict[tuple[str, str], SqlInstance] = {}
        self.operations: dict[str, Operation] = {}
        self.faults = Faults()
        self._listeners: list[Callable[[WorldChange], None]] = []
        self._ids = itertools.count(1)

    # -- seeding ------------------------------------------------------------------------

    @classmethod
    def seeded(cls, runbook: Runbook, now: Callable[[], datetime] | None = None) -> World:
        """Every environment's project x every service's regions, at the seed's baseline."""
        world = cls(now)
        for environment in runbook.environments:
            for service in runbook.services:
                for region in service.regions:
                    low, high = region_baseline(region)
                    world.add_service(environment.project, region, service.name, min_instances=low, max_instances=high)
        for instance in runbook.sql_instances:
            home = runbook.environment(instance.environment)
            if home is not None:
                world.add_sql_instance(home.project, instance.name, instance.tier or DEFAULT_SQL_TIER)
        return world

    def add_service(
        self,
        project: str,
        region: str,
        name: str,
        *,
        min_instances: int = 3,
        max_instances: int = 100,
        image: str | None = None,
        env: dict[str, str] | None = None,
        secrets: dict[str, SecretRef] | None = None,
    ) -> ServiceConfig:
        revision = Revision(
            name=f"{name}-00001",
            image=image or f"us-docker.pkg.dev/{project}/ion/{name}:week16",
            env=dict(BASELINE_ENV if env is None else env),
            min_instances=min_instances,
            max_instances=max_instances,
            secrets=dict(secrets or {}),
        )
        service = RunService(project, region, name, [revision], (TrafficSplit(percent=100, latest=True),))
        self.services[(project, region, name)] = service
        return service.config()

    def add_sql_instance(self, project: str, name: str, tier: str = DEFAULT_SQL_TIER) -> SqlInstanceState:
        self.sql[(project, name)] = SqlInstance(project, name, tier)
        return self.sql[(project, name)].view()

    # -- faults and listeners --------------------------------------------------------------

    def deny(self, project: str, region: str) -> None:
        """Updates in this project and region are refused (reads still work); region "sql" = Cloud SQL."""
        self.faults.denied_regions.add((project, region))

    def fail_next(self, count: int, error: type[WorldError] = Unavailable) -> None:
        """The next ``count`` calls (any kind) fail with a transient error, like a 503 burst."""
        self.faults.transient.extend([error] * count)

    def slow_operations(self, delay: timedelta) -> None:
        """Operations started from now on finish ``delay`` later on the world's clock."""
        self.faults.operation_delay = delay

    def concurrent_edit(self, project: str, region: str, name: str, env: dict[str, str] | None = None) -> None:
        """Someone else sets ``env`` on this service (a new revision) just before the bot's next
        update (once), so the bot's etag is stale and its retry must keep their change."""
        self.faults.concurrent_edits[(project, region, name)] = dict(OTHER_WRITER_ENV if env is None else env)

    def subscribe(self, listener: Callable[[WorldChange], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, change: WorldChange) -> None:
        for listener in list(self._listeners):
            listener(change)

    def _transient(self) -> None:
        if self.faults.transient:
            raise self.faults.transient.pop(0)("the service is temporarily unavailable; try again")

    def settle(self) -> None:
        """Land every operation whose time has come."""
        now = self.now()
        for operation in self.operations.values():
            if not operation.done and operation.done_at <= now:
                operation.done = True
                operation.ended_at = operation.done_at
                operation.land()

    # -- Cloud Run ---------------------------------------------------------------------------

    def _service(self, project: str, region: str, name: str) -> RunService:
        service = self.services.get((project, region, name))
        if service is None:
            raise NotFound(f"service {name} not found in {region} (project {project})")
        return service

    def get_service(self, project: str, region: str, name: str) -> ServiceConfig:
        self._transient()
        self.settle()
        return self._service(project, region, name).config()

    def update_service(self, config: ServiceConfig, fields: frozenset[str]) -> Operation:
        """Check and start an update; it lands now or after the injected operation delay."""
        self._transient()
        self.settle()
        key = (config.project, config.region, config.name)
        if (config.project, config.region) in self.faults.denied_regions:
            raise PermissionDenied(f"caller may not update services in {config.region} ({config.project})")
        service = self._service(*key)
        edit = self.faults.concurrent_edits.pop(key, None)
        if edit is not None:
            theirs = replace(service.config(), env={**service.latest.env, **edit})
            self._land_service(service, theirs, frozenset(ENV_FIELD + name for name in edit))
        if config.etag and config.etag != service.etag:
            raise Conflict(f"etag {config.etag} does not match the current {service.etag}")
        unknown = {f for f in fields if f not in SERVICE_FIELDS and not f.startswith(ENV_FIELD)}
        if unknown:
            raise Invalid(f"cannot update fields {sorted(unknown)}")
        self._validate(service, config, fields)
        return self._start(config.project, config.name, lambda: self._land_service(service, config, fields))

    def _validate(self, service: RunService, config: ServiceConfig, fields: frozenset[str]) -> None:
        if config.min_instances > config.max_instances:
            raise Invalid("minInstances must not exceed maxInstances")
        if "traffic" not in fields:
            return
        if sum(split.percent for split in config.traffic) != 100:
            raise Invalid("traffic percentages must add up to 100")
        known = {revision.name for revision in service.revisions}
        missing = [s.revision for s in config.traffic if not s.latest and s.revision not in known]
        if missing:
            raise Invalid(f"traffic names unknown revisions: {', '.join(str(m) for m in missing)}")

    def _land_service(self, service: RunService, config: ServiceConfig, fields: frozenset[str]) -> None:
        latest = service.latest
        # "env" replaces the container's whole env, as Cloud Run does for the template.containers
        # mask; "env NAME" changes that one variable and leaves the others as they are.
        env, secrets = (
            (dict(config.env), dict(config.secrets)) if "env" in fields else (dict(latest.env), dict(latest.secrets))
        )
        for name in env_names(fields):
            put_env(env, secrets, name, config)
        template = Revision(
            name=latest.name,
            image=config.image if "image" in fields else latest.image,
            env=env,
            min_instances=config.min_instances if "min_instances" in fields else latest.min_instances,
            max_instances=config.max_instances if "max_instances" in fields else latest.max_instances,
            secrets=secrets,
        )
        changed = False
        if template != latest:
            service.revision_counter += 1
            service.revisions.append(replace(template, name=f"{service.name}-{service.revision_counter:05d}"))
            changed = True
        if "traffic" in fields and tuple(config.traffic) != service.traffic:
            service.traffic = tuple(config.traffic)
            changed = True
        if changed:
            service.generation += 1
            self._emit(WorldChange("service", service.project, service.region, service.name, service.config()))

    def _start(self, project: str, subject: str, land: Callable[[], None], kind: str = "UPDATE") -> Operation:
        name = f"operation-{next(self._ids):05d}"
        operation = Operation(name, project, subject, self.now() + self.faults.operation_delay, land, kind=kind)
        self.operations[name] = operation
        self.settle()
        return operation

    def operation(self, name: str) -> Operation:
        self._transient()
        self.settle()
        operation = self.operations.get(name)
        if operation is None:
            raise NotFound(f"operation {name} not found")
        return operation

    # -- Cloud SQL ---------------------------------------------------------------------------

    def _instance(self, project: str, name: str) -> SqlInstance:
        instance = self.sql.get((project, name))
        if instance is None:
            raise NotFound(f"Cloud SQL instance {name} not found in project {project}")
        return instance

    def get_instance(self, project: str, name: str) -> SqlInstanceState:
        self._transient()
        self.settle()
        return self._instance(project, name).view()

    def patch_tier(self, project: str, name: str, tier: str) -> Operation:
        self._transient()
        self.settle()
        if (project, "sql") in self.faults.denied_regions:
            raise PermissionDenied(f"caller may not patch Cloud SQL instances in project {project}")
        instance = self._instance(project, name)
        if not tier.startswith("db-"):
            raise Invalid(f"{tier} is not a Cloud SQL tier")
        instance.state = "MAINTENANCE" if self.faults.operation_delay else instance.state

        def land() -> None:
            instance.tier, instance.state = tier, "RUNNABLE"
            self._emit(WorldChange("sql", project, None, name, instance=instance.view()))

        return self._start(project, name, land)

    def _sql_write(self, project: str) -> None:
        self._transient()
        self.settle()
        if (project, "sql") in self.faults.denied_regions:
            raise PermissionDenied(f"caller may not change Cloud SQL instances in project {project}")

    def _emit_sql(self, instance: SqlInstance) -> None:
        self._emit(WorldChange("sql", instance.project, None, instance.name, instance=instance.view()))

    def create_replica(self, project: str, name: str, master: str, tier: str, region: str | None = None) -> Operation:
        """instances.insert with masterInstanceName: the replica exists at once (PENDING_CREATE) and is
        RUNNABLE when the operation lands."""
        self._sql_write(project)
        primary = self._instance(project, master)
        if primary.master is not None:
            raise Invalid(f"{master} is itself a read replica; a replica needs a primary as its master")
        if (project, name) in self.sql:
            raise Conflict(f"the Cloud SQL instance {name} already exists in project {project}")
        if not tier.startswith("db-"):
            raise Invalid(f"{tier} is not a Cloud SQL tier")
        replica = SqlInstance(
            project, name, tier, "PENDING_CREATE", master, region or primary.region, primary.database_version
        )
        self.sql[(project, name)] = replica
        primary.replicas.append(name)

        def land() -> None:
            replica.state = "RUNNABLE"
            self._emit_sql(replica)

        return self._start(project, name, land, kind="CREATE_REPLICA")

    def promote_replica(self, project: str, name: str) -> Operation:
        """instances.promoteReplica: the replica stops replicating and becomes a standalone primary."""
        self._sql_write(project)
        replica = self._instance(project, name)
        if replica.master is None:
            raise Invalid(f"{name} is not a read replica, so it cannot be promoted")

        def land() -> None:
            old = self.sql.get((project, replica.master or ""))
            if old is not None and name in old.replicas:
                old.replicas.remove(name)
            replica.master, replica.promoted_at = None, self.now()
            self._emit_sql(replica)

        return self._start(project, name, land, kind="PROMOTE_REPLICA")

    def delete_instance(self, project: str, name: str) -> Operation:
        """instances.delete: refused while the instance has read replicas."""
        self._sql_write(project)
        instance = self._instance(project, name)
        if instance.replicas:
            raise Invalid(f"{name} has read replicas ({', '.join(instance.replicas)}); delete or promote them first")
        instance.state = "PENDING_DELETE" if self.faults.operation_delay else instance.state

        def land() -> None:
            self.sql.pop((project, name), None)
            master = self.sql.get((project, instance.master or ""))
            if master is not None and name in master.replicas:
                master.replicas.remove(name)
            instance.state = "DELETED"
            self._emit_sql(instance)

        return self._start(project, name, land, kind="DELETE")

    def sql_operations(self, project: str, instance: str) -> list[Operation]:
        """Cloud SQL operations on ``instance``, newest first (operations.list)."""
        self._transient()
        self.settle()
        found = [o for o in self.operations.values() if o.project == project and o.subject == instance]
        return sorted(found, key=lambda o: o.done_at, reverse=True)
