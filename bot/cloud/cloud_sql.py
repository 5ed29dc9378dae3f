"""Cloud SQL behind the CloudSqlApi port: a tier change, a read replica's creation, its promotion, an
instance's deletion, each with the wait for Cloud SQL's own operation, over Google's sqladmin_v1beta4
client (``GoogleCloudSql``) or the sim world.

The Google package is ``google.cloud.sqladmin_v1beta4`` (not ``sql_v1beta4``); its clients are
synchronous, so each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.cloud.cloud_run import Pending
from bot.cloud.ports import SqlInstanceState
from bot.cloud.retry import Backoff, CloudCallError, await_done, retry_transient
from bot.engine.clock import SystemClock
from bot.engine.ports import ActionFailed, Clock


class SqlCalls(Protocol):
    """Raw Cloud SQL Admin calls; errors come out as CloudCallError with a kind."""

    async def read(self, project: str, instance: str) -> SqlInstanceState: ...

    async def start_patch(self, project: str, instance: str, tier: str) -> Pending: ...

    async def start_replica(self, project: str, instance: str, master: SqlInstanceState, tier: str) -> Pending: ...

    async def start_promote(self, project: str, instance: str) -> Pending: ...

    async def start_delete(self, project: str, instance: str) -> Pending: ...

    async def promotions(self, project: str, instance: str) -> list[datetime]:
        """End times of the instance's finished PROMOTE_REPLICA operations."""
        ...


# The predefined role that allows each verb; roles/cloudsql.editor does not delete instances.
_ROLES = {"reading": "roles/cloudsql.viewer", "deleting": "roles/cloudsql.admin"}


def explain(error: CloudCallError, verb: str, project: str, instance: str) -> ActionFailed:
    where = f"Cloud SQL instance {instance} (project {project})"
    if error.kind == "denied":
        role = {"reading": "roles/cloudsql.viewer", "deleting": "roles/cloudsql.admin"}.get(
            verb, "roles/cloudsql.editor"
        )
        return ActionFailed(
            f"permission denied {verb} {where}: grant {role} to the bot's service account; nothing was changed"
        )
    if error.kind == "not_found":
        return ActionFailed(
            f"{where} was not found; nothing was changed; check the runbook's sql_instances and the project"
        )
    if error.kind == "conflict":
        return ActionFailed(f"Cloud SQL refused {verb} {where}: {error.detail}; nothing was changed")
    if error.kind in ("invalid", "precondition"):
        return ActionFailed(f"Cloud SQL refused {verb} {where}: {error.detail}; nothing was changed; fix the action")
    return ActionFailed(
        f"Cloud SQL failed {verb} {where}: {error.detail}; nothing was changed; try again", retryable=True
    )


class CloudSqlGateway:
    """Implements CloudSqlApi over any SqlCalls: retries, the operation wait and plain sentences."""

    def __init__(self, calls: SqlCalls, clock: Clock | None = None, backoff: Backoff = Backoff()) -> None:
        self.calls = calls
        self.clock: Clock = clock or SystemClock()
        self.backoff = backoff

    async def get_instance(self, project: str, instance: str) -> SqlInstanceState:
        try:
            return await retry_transient(
                lambda: self.calls.read(project, instance), sleep=self.clock.sleep, backoff=self.backoff
            )
        except CloudCallError as error:
            raise explain(error, "reading", project, instance) from error

    async def find_instance(self, project: str, instance: str) -> SqlInstanceState | None:
        try:
            return await retry_transient(
                lambda: self.calls.read(project, instance), sleep=self.clock.sleep, backoff=self.backoff
            )
        except CloudCallError as error:
            if error.kind == "not_found":
                return None
            raise explain(error, "reading", project, instance) from error

    async def set_tier(self, project: str, instance: str, tier: str, timeout: timedelta) -> SqlInstanceState:
        start = lambda: self.calls.start_patch(project, instance, tier)  # noqa: E731
        await self._operate(start, timeout, project, instance, "changing the tier of", f"the tier change to {tier}")
        return await self.get_instance(project, instance)

    async def create_replica(
        self, project: str, instance: str, master: SqlInstanceState, tier: str, timeout: timedelta
    ) -> SqlInstanceState:
        start = lambda: self.calls.start_replica(project, instance, master, tier)  # noqa: E731
        await self._operate(start, timeout, project, instance, "creating", f"the creation of replica {instance}")
        return await self.get_instance(project, instance)

    async def promote_replica(self, project: str, instance: str, timeout: timedelta) -> SqlInstanceState:
        start = lambda: self.calls.start_promote(project, instance)  # noqa: E731
        await self._operate(start, timeout, project, instance, "promoting", f"the promotion of {instance}")
        return await self.get_instance(project, instance)

    async def delete_instance(self, project: str, instance: str, timeout: timedelta) -> None:
        start = lambda: self.calls.start_delete(project, instance)  # noqa: E731
        await self._operate(start, timeout, project, instance, "deleting", f"the deletion of {instance}")

    async def promoted_at(self, project: str, instance: str) -> datetime | None:
        try:
            ends = await retry_transient(
                lambda: self.calls.promotions(project, instance), sleep=self.clock.sleep, backoff=self.backoff
            )
        except CloudCallError as error:
            raise explain(error, "reading the operations of", project, instance) from error
        return max(ends) if ends else None

    async def _operate(
        self,
        start: Callable[[], Awaitable[Pending]],
        timeout: timedelta,
        project: str,
        instance: str,
        verb: str,
        what: str,
    ) -> None:
        """Start an operation (transient errors retried) and poll it until DONE or ``timeout``."""
        try:
            pending = await retry_transient(start, sleep=self.clock.sleep, backoff=self.backoff)
            finished = await await_done(pending.done, clock=self.clock, within=timeout, backoff=self.backoff)
        except CloudCallError as error:
            raise explain(error, verb, project, instance) from error
        if not finished:
            minutes = int(timeout.total_seconds() // 60)
            raise ActionFailed(
                f"{what} (Cloud SQL instance {instance}, project {project}) did not finish within {minutes} min; "
                f"it is still running and may land: watch `gcloud sql operations list --instance={instance}` "
                "before retrying or reverting",
                retryable=True,
            )


# --- Google sqladmin_v1beta4 (sync clients in threads) --------------------------------------


def _classify(error: Exception) -> CloudCallError | None:
    from google.api_core import exceptions as gexc

    kinds: list[tuple[type[Exception], str]] = [
        (gexc.ServiceUnavailable, "transient"),
        (gexc.TooManyRequests, "transient"),
        (gexc.ResourceExhausted, "transient"),
        (gexc.Conflict, "conflict"),
        (gexc.PermissionDenied, "denied"),
        (gexc.Forbidden, "denied"),
        (gexc.Unauthenticated, "denied"),
        (gexc.NotFound, "not_found"),
        (gexc.BadRequest, "invalid"),
        (gexc.InvalidArgument, "invalid"),
    ]
    for kind_type, kind in kinds:
        if isinstance(error, kind_type):
            return CloudCallError(kind, str(getattr(error, "message", None) or error))
    return None


async def _in_thread(call: Any, request: Any) -> Any:
    try:
        return await asyncio.to_thread(call, request=request, retry=None)
    except Exception as error:
        raise _classify(error) or error from error


class _SqlOperation:
    def __init__(self, client: Any, project: str, name: str) -> None:
        self.client = client
        self.project = project
        self.name = name

    async def done(self) -> bool:
        from google.cloud import sqladmin_v1beta4 as sql

        request = sql.SqlOperationsGetRequest(project=self.project, operation=self.name)
        operation = await _in_thread(self.client.get, request)
        if operation.status != sql.Operation.SqlOperationStatus.DONE:
            return False
        if operation.error and operation.error.errors:
            detail = "; ".join(e.message or e.code for e in operation.error.errors)
            raise CloudCallError("invalid", f"the operation failed: {detail}")
        return True


class GoogleSqlCalls:
    def __init__(self, instances: Any, operations: Any) -> None:
        self.instances = instances
        self.operations = operations

    async def read(self, project: str, instance: str) -> SqlInstanceState:
        from google.cloud import sqladmin_v1beta4 as sql

        request = sql.SqlInstancesGetRequest(project=project, instance=instance)
        found = await _in_thread(self.instances.get, request)
        return SqlInstanceState(
            project=project,
            name=instance,
            tier=found.settings.tier,
            state=found.state.name,
            master=found.master_instance_name or None,
            region=found.region,
            database_version=found.database_version.name if found.database_version else "",
            replicas=tuple(found.replica_names),
        )

    async def start_patch(self, project: str, instance: str, tier: str) -> Pending:
        from google.cloud import sqladmin_v1beta4 as sql

        body = sql.DatabaseInstance(settings=sql.Settings(tier=tier))
        request = sql.SqlInstancesPatchRequest(project=project, instance=instance, body=body)
        operation = await _in_thread(self.instances.patch, request)
        return _SqlOperation(self.operations, project, operation.name)

    async def start_replica(self, project: str, instance: str, master: SqlInstanceState, tier: str) -> Pending:
        from google.cloud import sqladmin_v1beta4 as sql

        body = sql.DatabaseInstance(
            name=instance,
            master_instance_name=master.name,
            region=master.region,
            database_version=master.database_version or None,
            settings=sql.Settings(tier=tier),
        )
        operation = await _in_thread(self.instances.insert, sql.SqlInstancesInsertRequest(project=project, body=body))
        return _SqlOperation(self.operations, project, operation.name)

    async def start_promote(self, project: str, instance: str) -> Pending:
        from google.cloud import sqladmin_v1beta4 as sql

        request = sql.SqlInstancesPromoteReplicaRequest(project=project, instance=instance)
        operation = await _in_thread(self.instances.promote_replica, request)
        return _SqlOperation(self.operations, project, operation.name)

    async def start_delete(self, project: str, instance: str) -> Pending:
        from google.cloud import sqladmin_v1beta4 as sql

        request = sql.SqlInstancesDeleteRequest(project=project, instance=instance)
        operation = await _in_thread(self.instances.delete, request)
        return _SqlOperation(self.operations, project, operation.name)

    async def promotions(self, project: str, instance: str) -> list[datetime]:
        from google.cloud import sqladmin_v1beta4 as sql

        request = sql.SqlOperationsListRequest(project=project, instance=instance)
        pager = await _in_thread(self.operations.list, request)
        promote, done = sql.Operation.SqlOperationType.PROMOTE_REPLICA, sql.Operation.SqlOperationStatus.DONE
        return await asyncio.to_thread(
            lambda: [op.end_time for op in pager if op.operation_type == promote and op.status == done and op.end_time]
        )


class GoogleCloudSql(CloudSqlGateway):
    """Cloud SQL Admin through google-cloud-sql; tests pass REST clients pointed at the sim facade."""

    def __init__(
        self,
        instances: Any = None,
        operations: Any = None,
        clock: Clock | None = None,
        backoff: Backoff = Backoff(),
    ) -> None:
        if instances is None or operations is None:
            from google.cloud import sqladmin_v1beta4 as sql

            instances = instances or sql.SqlInstancesServiceClient()
            operations = operations or sql.SqlOperationsServiceClient()
        super().__init__(GoogleSqlCalls(instances, operations), clock=clock, backoff=backoff)


def rest_clients(endpoint: str) -> tuple[Any, Any]:
    """Instances and operations clients over plain-HTTP REST to ``endpoint`` (the sim facade)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import sqladmin_v1beta4 as sql

    options = {"api_endpoint": endpoint}
    anonymous: Any = AnonymousCredentials()  # type: ignore[no-untyped-call]
    return (
        sql.SqlInstancesServiceClient(transport="rest", client_options=options, credentials=anonymous),
        sql.SqlOperationsServiceClient(transport="rest", client_options=options, credentials=anonymous),
    )
