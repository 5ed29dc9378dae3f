"""Cloud Run behind the CloudRunApi port: retries, conflict handling and plain-sentence errors,
over either Google's run_v2 client (``GoogleCloudRun``) or the sim world (``bot/sim``).

Google modules are imported only when a GoogleCloudRun is built, so the embedded profile
never loads them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, Protocol

from bot.cloud.ports import SecretRef, ServiceConfig, TrafficSplit
from bot.cloud.retry import Backoff, CloudCallError, await_done, retry_transient
from bot.engine.clock import SystemClock
from bot.engine.ports import ActionFailed, Clock

SCALARS = frozenset({"min_instances", "max_instances", "image"})
WRITABLE = SCALARS | {"traffic"}
ENV_FIELD = "env "  # "env NAME": that one variable; the rest of the container's env is left alone


def env_field(name: str) -> str:
    return ENV_FIELD + name


def env_names(fields: frozenset[str]) -> list[str]:
    """The variables an update writes, from its ``env NAME`` fields."""
    return sorted(field[len(ENV_FIELD) :] for field in fields if field.startswith(ENV_FIELD))


def put_env(env: dict[str, str], secrets: dict[str, SecretRef], name: str, source: ServiceConfig) -> None:
    """Make ``name`` in (env, secrets) what it is in ``source``: plain, secret-backed or unset;
    a variable that stays in the same dict keeps its place."""
    if name in source.env:
        env[name] = source.env[name]
        secrets.pop(name, None)
    elif name in source.secrets:
        secrets[name] = source.secrets[name]
        env.pop(name, None)
    else:
        env.pop(name, None)
        secrets.pop(name, None)


def with_delta(fresh: ServiceConfig, ours: ServiceConfig, fields: frozenset[str]) -> ServiceConfig:
    """Our change (``fields`` of ``ours``) on top of a fresh read, keeping what others changed."""
    env, secrets = dict(fresh.env), dict(fresh.secrets)
    for name in env_names(fields):
        put_env(env, secrets, name, ours)
    scalars = {field: getattr(ours, field) for field in fields & SCALARS}
    return replace(fresh, env=env, secrets=secrets, **scalars)


class Pending(Protocol):
    """A started operation the gateway polls until it is done."""

    async def done(self) -> bool: ...


class RunCalls(Protocol):
    """Raw Cloud Run calls; errors come out as CloudCallError with a kind."""

    async def read(self, project: str, region: str, service: str) -> ServiceConfig: ...

    async def start_update(self, config: ServiceConfig, fields: frozenset[str]) -> Pending: ...


def _where(project: str, region: str, service: str) -> str:
    return f"{service} in {region} (project {project})"


def explain(error: CloudCallError, verb: str, project: str, region: str, service: str) -> ActionFailed:
    """One sentence a person can act on, naming project, region and service."""
    where = _where(project, region, service)
    role = "roles/run.viewer" if verb == "reading" else "roles/run.developer"
    if error.kind == "denied":
        return ActionFailed(
            f"permission denied {verb} {where}: grant {role} to the bot's service account; nothing was changed there"
        )
    if error.kind == "not_found":
        return ActionFailed(
            f"Cloud Run service {service} was not found in {region} (project {project}); nothing was "
            "changed there; check the runbook's service regions and the environment's project"
        )
    if error.kind == "precondition":
        return ActionFailed(
            f"Cloud Run refused {verb} {where} in its current state: {error.detail}; nothing was changed "
            "there; check the service's conditions in the console, then try again",
            retryable=True,
        )
    if error.kind == "invalid":
        return ActionFailed(
            f"Cloud Run refused {verb} {where}: {error.detail}; nothing was changed there; fix the action"
        )
    return ActionFailed(
        f"Cloud Run failed {verb} {where}: {error.detail}; nothing was changed there; try again",
        retryable=True,
    )


class CloudRunGateway:
    """Implements CloudRunApi over any RunCalls: the policy lives here once, for sim and Google alike."""

    def __init__(self, calls: RunCalls, clock: Clock | None = None, backoff: Backoff = Backoff()) -> None:
        self.calls = calls
        self.clock: Clock = clock or SystemClock()
        self.backoff = backoff

    async def get_service(self, project: str, region: str, service: str) -> ServiceConfig:
        try:
            return await retry_transient(
                lambda: self.calls.read(project, region, service),
                sleep=self.clock.sleep,
                backoff=self.backoff,
            )
        except CloudCallError as error:
            raise explain(error, "reading", project, region, service) from error

    async def update_service(
        self,
        config: ServiceConfig,
        fields: frozenset[str],
        timeout: timedelta,
    ) -> ServiceConfig:
        unknown = {field for field in fields if field not in WRITABLE and not field.startswith(ENV_FIELD)}
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}; writable fields are {sorted(WRITABLE)} and 'env NAME'")
        project, region, name = config.project, config.region, config.name
        try:
            pending = await self._start(config, fields)
        except CloudCallError as error:
            if error.kind != "conflict":
                raise explain(error, "updating", project, region, name) from error
            if "traffic" in fields:
                # A split is computed from the one it replaces: re-applied to a split someone else
                # just set, it would undo theirs. Say so instead of guessing.
                raise ActionFailed(
                    f"{_where(project, region, name)} was changed by someone else while the bot was "
                    "changing its traffic; the bot changed nothing there; check its new split, then run "
                    "the step again",
                    retryable=True,
                ) from error
            fresh = await self.get_service(project, region, name)
            try:
                pending = await self._start(with_delta(fresh, config, fields), fields)
            except CloudCallError as again:
                if again.kind == "conflict":
                    raise ActionFailed(
                        f"{_where(project, region, name)} was changed by someone else twice while the bot "
                        "was updating it; the bot changed nothing there; check who is editing it, then "
                        "run the step again",
                        retryable=True,
                    ) from again
                raise explain(again, "updating", project, region, name) from again
        finished = await await_done(pending.done, clock=self.clock, within=timeout, backoff=self.backoff)
        if not finished:
            raise ActionFailed(
                f"the update of {_where(project, region, name)} did not finish within "
                f"{_minutes(timeout)}; it may still land: read the service back before retrying or reverting",
                retryable=True,
            )
        return await self.get_service(project, region, name)

    async def _start(self, config: ServiceConfig, fields: frozenset[str]) -> Pending:
        return await retry_transient(
            lambda: self.calls.start_update(config, fields), sleep=self.clock.sleep, backoff=self.backoff
        )


def _minutes(timeout: timedelta) -> str:
    seconds = int(timeout.total_seconds())
    return f"{seconds // 60} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds} s"


# --- Google run_v2 over gRPC ----------------------------------------------------------------


_MASKS = {
    "min_instances": "template.scaling",
    "max_instances": "template.scaling",
    "image": "template.containers",
    "traffic": "traffic",
}


def _mask(field: str) -> str:
    return "template.containers" if field.startswith(ENV_FIELD) else _MASKS[field]


def _short(resource: str) -> str:
    return resource.rsplit("/", 1)[-1]


def _classify(error: Exception) -> CloudCallError | None:
    from google.api_core import exceptions as gexc

    kinds: list[tuple[type[Exception], str]] = [
        (gexc.ServiceUnavailable, "transient"),
        (gexc.TooManyRequests, "transient"),
        (gexc.ResourceExhausted, "transient"),
        (gexc.DeadlineExceeded, "transient"),
        (gexc.Aborted, "conflict"),
        (gexc.Conflict, "conflict"),
        (gexc.FailedPrecondition, "precondition"),
        (gexc.PermissionDenied, "denied"),
        (gexc.Forbidden, "denied"),
        (gexc.Unauthenticated, "denied"),
        (gexc.NotFound, "not_found"),
        (gexc.InvalidArgument, "invalid"),
    ]
    for kind_type, kind in kinds:
        if isinstance(error, kind_type):
            message = getattr(error, "message", None) or str(error)
            return CloudCallError(kind, str(message))
    return None


class _GoogleOperation:
    def __init__(self, operation: Any) -> None:
        self.operation = operation

    async def done(self) -> bool:
        try:
            finished = bool(await self.operation.done(retry=None))
            if finished:
                await self.operation.result()
            return finished
        except Exception as error:
            raise _classify(error) or error from error


class GoogleRunCalls:
    """run_v2 ServicesAsyncClient calls, with the client library's own retries switched off."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def _get_proto(self, project: str, region: str, service: str) -> Any:
        name = f"projects/{project}/locations/{region}/services/{service}"
        try:
            return await self.client.get_service(name=name, retry=None)
        except Exception as error:
            raise _classify(error) or error from error

    async def read(self, project: str, region: str, service: str) -> ServiceConfig:
        return service_config(project, region, await self._get_proto(project, region, service))

    async def start_update(self, config: ServiceConfig, fields: frozenset[str]) -> Pending:
        from google.cloud import run_v2
        from google.protobuf import field_mask_pb2

        # Edit the service as read, so every field and env entry the bot does not change (secret
        # references, resources, probes) goes back exactly as it was; the etag is the caller's.
        proto = await self._get_proto(config.project, config.region, config.name)
        proto.etag = config.etag
        template = run_v2.Service.pb(proto).template
        if "min_instances" in fields:
            template.scaling.min_instance_count = config.min_instances
        if "max_instances" in fields:
            template.scaling.max_instance_count = config.max_instances
        names = env_names(fields)
        if "image" in fields or names:
            container = template.containers[0] if template.containers else template.containers.add()
            if "image" in fields:
                container.image = config.image
            for name in names:
                _write_env(container.env, name, config)
        if "traffic" in fields:
            proto.traffic = [_traffic_target(split) for split in config.traffic]
        mask = field_mask_pb2.FieldMask(paths=sorted({_mask(field) for field in fields}))
        request = run_v2.UpdateServiceRequest(service=proto, update_mask=mask)
        try:
            operation = await self.client.update_service(request=request, retry=None)
        except Exception as error:
            raise _classify(error) or error from error
        return _GoogleOperation(operation)


def _write_env(env: Any, name: str, config: ServiceConfig) -> None:
    """Set, repoint or remove one entry of a container's env (protobuf) in place."""
    index = next((i for i, var in enumerate(env) if var.name == name), None)
    if name not in config.env and name not in config.secrets:
        if index is not None:
            del env[index]
        return
    var = env.add(name=name) if index is None else env[index]
    if name in config.env:
        var.value = config.env[name]  # a oneof: this drops any value_source
        return
    ref = config.secrets[name]
    var.ClearField("value_source")
    var.value_source.SetInParent()
    var.value_source.secret_key_ref.secret = ref.secret
    var.value_source.secret_key_ref.version = ref.version


def _traffic_target(split: TrafficSplit) -> Any:
    from google.cloud import run_v2

    kind = run_v2.TrafficTargetAllocationType
    return run_v2.TrafficTarget(
        type_=kind.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
        if split.latest
        else kind.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
        revision="" if split.latest else (split.revision or ""),
        percent=split.percent,
        tag=split.tag or "",
    )


def service_config(project: str, region: str, proto: Any) -> ServiceConfig:
    """Read the fields the runbook changes out of a run_v2 Service."""
    from google.cloud import run_v2

    latest_kind = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
    template = proto.template
    container = template.containers[0] if template.containers else None
    env: dict[str, str] = {}
    secrets: dict[str, SecretRef] = {}
    for var in run_v2.Container.pb(container).env if container else []:
        if var.WhichOneof("values") == "value_source":
            ref = var.value_source.secret_key_ref
            secrets[var.name] = SecretRef(secret=ref.secret, version=ref.version)
        else:
            env[var.name] = var.value
    return ServiceConfig(
        project=project,
        region=region,
        name=_short(proto.name),
        min_instances=template.scaling.min_instance_count,
        max_instances=template.scaling.max_instance_count,
        env=env,
        secrets=secrets,
        image=container.image if container else "",
        latest_revision=_short(proto.latest_ready_revision or proto.latest_created_revision),
        traffic=tuple(
            TrafficSplit(
                percent=target.percent,
                revision=None if target.type_ == latest_kind else target.revision,
                latest=target.type_ == latest_kind,
                tag=target.tag or None,
            )
            for target in proto.traffic
        ),
        etag=proto.etag,
    )


class GoogleCloudRun(CloudRunGateway):
    """Cloud Run through google-cloud-run; tests pass a client whose channel points at the sim facade."""

    def __init__(self, client: Any = None, clock: Clock | None = None, backoff: Backoff = Backoff()) -> None:
        if client is None:
            from google.cloud import run_v2

            client = run_v2.ServicesAsyncClient()  # Application Default Credentials
        super().__init__(GoogleRunCalls(client), clock=clock, backoff=backoff)
