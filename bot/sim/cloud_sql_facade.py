"""An HTTP stand-in for the Cloud SQL Admin API v1beta4 over the world, for the real
sqladmin_v1beta4 REST client: instance get, patch, insert (a read replica), promoteReplica and
delete, and Cloud SQL's own operations (get and list).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.sim.world import Operation, World, WorldError

_PREFIX = "/sql/v1beta4/projects/{project}"


class CloudSqlFacade:
    """``await start()`` returns "http://127.0.0.1:PORT" for the client's api_endpoint."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[str] = []
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get(_PREFIX + "/instances/{instance}", self._get_instance)
        app.router.add_patch(_PREFIX + "/instances/{instance}", self._patch_instance)
        app.router.add_post(_PREFIX + "/instances", self._insert_instance)
        app.router.add_post(_PREFIX + "/instances/{instance}/promoteReplica", self._promote_replica)
        app.router.add_delete(_PREFIX + "/instances/{instance}", self._delete_instance)
        app.router.add_get(_PREFIX + "/operations/{operation}", self._get_operation)
        app.router.add_get(_PREFIX + "/operations", self._list_operations)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _get_instance(self, request: web.Request) -> web.Response:
        self.calls.append("GET instance")
        project, name = request.match_info["project"], request.match_info["instance"]

        def body() -> dict[str, Any]:
            state = self.world.get_instance(project, name)
            found: dict[str, Any] = {
                "kind": "sql#instance",
                "name": name,
                "project": project,
                "state": state.state,
                "region": state.region,
                "databaseVersion": state.database_version,
                "settings": {"tier": state.tier},
                "instanceType": "READ_REPLICA_INSTANCE" if state.master else "CLOUD_SQL_INSTANCE",
                "replicaNames": list(state.replicas),
            }
            if state.master:
                found["masterInstanceName"] = state.master
            return found

        return _answer(body)

    async def _insert_instance(self, request: web.Request) -> web.Response:
        self.calls.append("POST instances")
        project = request.match_info["project"]
        payload = await request.json()
        name, master = payload.get("name"), payload.get("masterInstanceName")
        tier = (payload.get("settings") or {}).get("tier")
        if not name or not master or not tier:
            return _error(
                400, "INVALID_ARGUMENT", "this facade only creates read replicas: name, masterInstanceName, tier"
            )
        region = payload.get("region") or None
        return _answer(lambda: _operation_json(self.world.create_replica(project, name, master, tier, region)))

    async def _promote_replica(self, request: web.Request) -> web.Response:
        self.calls.append("POST promoteReplica")
        project, name = request.match_info["project"], request.match_info["instance"]
        return _answer(lambda: _operation_json(self.world.promote_replica(project, name)))

    async def _delete_instance(self, request: web.Request) -> web.Response:
        self.calls.append("DELETE instance")
        project, name = request.match_info["project"], request.match_info["instance"]
        return _answer(lambda: _operation_json(self.world.delete_instance(project, name)))

    async def _list_operations(self, request: web.Request) -> web.Response:
        self.calls.append("GET operations")
        project, instance = request.match_info["project"], request.query.get("instance", "")
        return _answer(
            lambda: {
                "kind": "sql#operationsList",
                "items": [_operation_json(o) for o in self.world.sql_operations(project, instance)],
            }
        )

    async def _patch_instance(self, request: web.Request) -> web.Response:
        self.calls.append("PATCH instance")
        project, name = request.match_info["project"], request.match_info["instance"]
        payload = await request.json()
        tier = (payload.get("settings") or {}).get("tier")
        if not tier:
            return _error(400, "INVALID_ARGUMENT", "this facade only patches settings.tier")
        return _answer(lambda: _operation_json(self.world.patch_tier(project, name, tier)))

    async def _get_operation(self, request: web.Request) -> web.Response:
        self.calls.append("GET operation")
        return _answer(lambda: _operation_json(self.world.operation(request.match_info["operation"])))


def _operation_json(operation: Operation) -> dict[str, Any]:
    found: dict[str, Any] = {
        "kind": "sql#operation",
        "name": operation.name,
        "status": "DONE" if operation.done else "RUNNING",
        "operationType": operation.kind,
        "targetId": operation.subject,
        "targetProject": operation.project,
    }
    if operation.ended_at is not None:
        found["endTime"] = operation.ended_at.isoformat().replace("+00:00", "Z")
    return found


def _answer(body: Callable[[], dict[str, Any]]) -> web.Response:
    try:
        return web.json_response(body())
    except WorldError as error:
        return _error(error.http, error.code, str(error))


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": status, "status": code, "message": message}}, status=status)
