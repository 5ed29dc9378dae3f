"""The CloudRunApi / CloudSqlApi ports straight over the in-memory world, for the embedded
profile and the fast simulation. Same gateway policy (retries, conflicts, sentences) as Google.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from bot.cloud.cloud_run import CloudRunGateway, Pending
from bot.cloud.cloud_sql import CloudSqlGateway
from bot.cloud.ports import ServiceConfig, SqlInstanceState
from bot.cloud.retry import Backoff, CloudCallError
from bot.engine.ports import Clock
from bot.sim import world as w

T = TypeVar("T")

_KINDS: dict[type[w.WorldError], str] = {
    w.Unavailable: "transient",
    w.TooManyRequests: "transient",
    w.Conflict: "conflict",
    w.PermissionDenied: "denied",
    w.NotFound: "not_found",
    w.FailedPrecondition: "precondition",
    w.Invalid: "invalid",
}


def _translate(call: Callable[[], T]) -> T:
    try:
        return call()
    except w.WorldError as error:
        raise CloudCallError(_KINDS.get(type(error), "invalid"), str(error)) from error


class _WorldOperation:
    def __init__(self, world: w.World, name: str) -> None:
        self.world = world
        self.name = name

    async def done(self) -> bool:
        return _translate(lambda: self.world.operation(self.name)).done


class WorldRunCalls:
    def __init__(self, world: w.World) -> None:
        self.world = world

    async def read(self, project: str, region: str, service: str) -> ServiceConfig:
        return _translate(lambda: self.world.get_service(project, region, service))

    async def start_update(self, config: ServiceConfig, fields: frozenset[str]) -> Pending:
        operation = _translate(lambda: self.world.update_service(config, fields))
        return _WorldOperation(self.world, operation.name)


class WorldSqlCalls:
    def __init__(self, world: w.World) -> None:
        self.world = world

    async def read(self, project: str, instance: str) -> SqlInstanceState:
        return _translate(lambda: self.world.get_instance(project, instance))

    async def start_patch(self, project: str, instance: str, tier: str) -> Pending:
        operation = _translate(lambda: self.world.patch_tier(project, instance, tier))
        return _WorldOperation(self.world, operation.name)

    async def start_replica(self, project: str, instance: str, master: SqlInstanceState, tier: str) -> Pending:
        operation = _translate(lambda: self.world.create_replica(project, instance, master.name, tier, master.region))
        return _WorldOperation(self.world, operation.name)

    async def start_promote(self, project: str, instance: str) -> Pending:
        operation = _translate(lambda: self.world.promote_replica(project, instance))
        return _WorldOperation(self.world, operation.name)

    async def start_delete(self, project: str, instance: str) -> Pending:
        operation = _translate(lambda: self.world.delete_instance(project, instance))
        return _WorldOperation(self.world, operation.name)

    async def promotions(self, project: str, instance: str) -> list[datetime]:
        operations = _translate(lambda: self.world.sql_operations(project, instance))
        return [o.ended_at for o in operations if o.kind == "PROMOTE_REPLICA" and o.done and o.ended_at]


class SimCloudRun(CloudRunGateway):
    """Cloud Run in-process over the world."""

    def __init__(self, world: w.World, clock: Clock | None = None, backoff: Backoff = Backoff()) -> None:
        super().__init__(WorldRunCalls(world), clock=clock, backoff=backoff)


class SimCloudSql(CloudSqlGateway):
    """Cloud SQL in-process over the world."""

    def __init__(self, world: w.World, clock: Clock | None = None, backoff: Backoff = Backoff()) -> None:
        super().__init__(WorldSqlCalls(world), clock=clock, backoff=backoff)
