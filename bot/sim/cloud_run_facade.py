"""A gRPC stand-in for the Cloud Run Admin API v2 over the world, so the real run_v2 client
(and its long-running operations) can be exercised on 127.0.0.1 without Google.

Serves GetService, UpdateService and google.longrunning GetOperation; world refusals become
the gRPC status codes Cloud Run uses.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import any_pb2

from bot.cloud.cloud_run import service_config
from bot.cloud.ports import ServiceConfig
from bot.sim.world import TEMPLATE_FIELDS, World, WorldError

_MASK_FIELDS = {
    "template.scaling": {"min_instances", "max_instances"},
    "template.containers": {"env", "image"},
    "template": set(TEMPLATE_FIELDS),
    "traffic": {"traffic"},
}


def _path(name: str) -> tuple[str, str, str]:
    """projects/P/locations/R/services/S (or .../operations/O) -> (P, R, S)."""
    parts = name.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations":
        raise ValueError(f"malformed resource name {name!r}")
    return parts[1], parts[3], parts[5]


def service_proto(config: ServiceConfig, generation: int = 0) -> Any:
    base = f"projects/{config.project}/locations/{config.region}/services/{config.name}"
    kind = run_v2.TrafficTargetAllocationType
    return run_v2.Service(
        name=base,
        uri=f"https://{config.name}-{config.region}.a.run.app",
        generation=generation,
        etag=config.etag,
        latest_ready_revision=f"{base}/revisions/{config.latest_revision}",
        latest_created_revision=f"{base}/revisions/{config.latest_revision}",
        template=run_v2.RevisionTemplate(
            scaling=run_v2.RevisionScaling(
                min_instance_count=config.min_instances, max_instance_count=config.max_instances
            ),
            containers=[
                run_v2.Container(
                    image=config.image,
                    env=_env_proto(config),
                    resources=run_v2.ResourceRequirements(limits={"cpu": "1", "memory": "1Gi"}),
                )
            ],
        ),
        traffic=[
            run_v2.TrafficTarget(
                type_=kind.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
                if split.latest
                else kind.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION,
                revision=split.revision or "",
                percent=split.percent,
                tag=split.tag or "",
            )
            for split in config.traffic
        ],
    )


def _env_proto(config: ServiceConfig) -> list[Any]:
    """Plain values, then secret references (``value_source``), each in the world's order."""
    plain = [run_v2.EnvVar(name=name, value=value) for name, value in config.env.items()]
    return plain + [
        run_v2.EnvVar(
            name=name,
            value_source=run_v2.EnvVarSource(
                secret_key_ref=run_v2.SecretKeySelector(secret=ref.secret, version=ref.version)
            ),
        )
        for name, ref in config.secrets.items()
    ]


class CloudRunFacade:
    """``await start()`` returns "127.0.0.1:PORT" for ``grpc.aio.insecure_channel``."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[str] = []
        self.updates: list[Any] = []  # every UpdateService request's Service, as sent
        self._server: grpc.aio.Server | None = None
        self._operations: dict[str, tuple[str, str, str]] = {}

    async def start(self) -> str:
        server = grpc.aio.server()
        services = grpc.method_handlers_generic_handler(
            "google.cloud.run.v2.Services",
            {
                "GetService": _unary(self._get_service, run_v2.GetServiceRequest.pb().FromString),
                "UpdateService": _unary(self._update_service, run_v2.UpdateServiceRequest.pb().FromString),
            },
        )
        operations = grpc.method_handlers_generic_handler(
            "google.longrunning.Operations",
            {"GetOperation": _unary(self._get_operation, operations_pb2.GetOperationRequest.FromString)},
        )
        server.add_generic_rpc_handlers((services, operations))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server
        return f"127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(None)
            self._server = None

    def _service_pb(self, project: str, region: str, name: str, *, read: bool = True) -> Any:
        """A read (which injected faults may hit) or, for an operation's result, the plain state."""
        config = self.world.get_service(project, region, name) if read else None
        service = self.world.services[(project, region, name)]
        return run_v2.Service.pb(service_proto(config or service.config(), service.generation))

    async def _get_service(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self.calls.append("GetService")
        return await _guard(context, lambda: self._service_pb(*_path(request.name)))

    async def _update_service(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self.calls.append("UpdateService")
        self.updates.append(run_v2.Service.deserialize(request.service.SerializeToString()))

        def update() -> Any:
            project, region, _ = _path(request.service.name)
            config = service_config(project, region, run_v2.Service.wrap(request.service))
            paths = list(request.update_mask.paths)
            fields: set[str] = set()
            for path in paths or list(_MASK_FIELDS):
                fields |= _MASK_FIELDS.get(path, set())
            operation = self.world.update_service(config, frozenset(fields))
            self._operations[operation.name] = (project, region, config.name)
            return self._operation_pb(operation.name)

        return await _guard(context, update)

    async def _get_operation(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        self.calls.append("GetOperation")
        return await _guard(context, lambda: self._operation_pb(request.name.rsplit("/", 1)[-1]))

    def _operation_pb(self, name: str) -> Any:
        operation = self.world.operation(name)
        project, region, service = self._operations[name]
        reply = operations_pb2.Operation(
            name=f"projects/{project}/locations/{region}/operations/{name}", done=operation.done
        )
        if operation.done:
            packed = any_pb2.Any()
            packed.Pack(self._service_pb(project, region, service, read=False))
            reply.response.CopyFrom(packed)
        return reply


def _unary(handler: Any, deserializer: Any) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(
        handler, request_deserializer=deserializer, response_serializer=lambda m: m.SerializeToString()
    )


async def _guard(context: grpc.aio.ServicerContext[Any, Any], call: Any) -> Any:
    try:
        return call()
    except WorldError as error:
        await context.abort(grpc.StatusCode[error.code], str(error))
    except (ValueError, KeyError) as error:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
