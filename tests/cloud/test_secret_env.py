"""Secret-backed env vars (``value_source.secret_key_ref``) survive every Cloud Run kind: the bot
changes only the variables it names and a revert points a variable back at the same secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.cloud.ports import SecretRef
from bot.runbook.models import CloudRunEnv
from tests.cloud.conftest import PROJECT, SERVICE, Cloud, comparable, revert_all, run_all
from tests.cloud.test_cloud_run_kinds import build, deploy, scale

DB_PASSWORD = SecretRef(secret="projects/ion-mentoring/secrets/db-password", version="3")


@pytest.fixture
def with_secret(cloud: Cloud) -> Cloud:
    """us-central1 with plain vars out of alphabetical order and one secret-backed var."""
    cloud.world.add_service(
        PROJECT, "us-central1", SERVICE, env={"ZETA": "1", "ALPHA": "2"}, secrets={"DB_PASSWORD": DB_PASSWORD}
    )
    return cloud


def env(**fields: Any) -> CloudRunEnv:
    return CloudRunEnv.model_validate(
        {"kind": "cloud_run.env", "service": SERVICE, "regions": ["us-central1"], **fields}
    )


async def test_an_env_change_keeps_the_secret_backed_variable(with_secret: Cloud) -> None:
    cloud = with_secret
    await run_all(cloud, build(cloud, env(set={"ALPHA": "20", "NEW": "x"})))
    live = cloud.live("us-central1")
    assert live.secrets == {"DB_PASSWORD": DB_PASSWORD}
    assert live.env == {"ZETA": "1", "ALPHA": "20", "NEW": "x"}


async def test_the_request_edits_the_service_as_read_changing_only_the_named_entries(with_secret: Cloud) -> None:
    cloud = with_secret
    if cloud.run_facade is None:
        pytest.skip("the request is what the Google adapter sends")
    await run_all(cloud, build(cloud, env(set={"ALPHA": "20"}, unset=["ZETA"])))
    (sent,) = cloud.run_facade.updates
    container = sent.template.containers[0]
    entries = [(var.name, var.value, var.value_source.secret_key_ref.secret) for var in container.env]
    assert entries == [("ALPHA", "20", ""), ("DB_PASSWORD", "", DB_PASSWORD.secret)]
    assert container.env[1].value_source.secret_key_ref.version == "3"
    assert dict(container.resources.limits) == {"cpu": "1", "memory": "1Gi"}  # untouched fields go back as read


async def test_a_deploy_keeps_the_secret_and_its_revert_restores_the_exact_config(with_secret: Cloud) -> None:
    cloud = with_secret
    before = cloud.live("us-central1")
    action = build(cloud, deploy(image="img:week17", env={"ALPHA": "3"}))
    snapshots, _ = await run_all(cloud, action)
    deployed = cloud.live("us-central1")
    assert deployed.image == "img:week17" and deployed.secrets == {"DB_PASSWORD": DB_PASSWORD}
    await revert_all(cloud, action, snapshots)
    assert comparable(cloud.live("us-central1")) == comparable(before)


async def test_a_scale_change_keeps_the_secret(with_secret: Cloud) -> None:
    cloud = with_secret
    await run_all(cloud, build(cloud, scale(regions=["us-central1"], min_instances=2)))
    assert cloud.live("us-central1").secrets == {"DB_PASSWORD": DB_PASSWORD}


async def test_overriding_a_secret_with_a_plain_value_reverts_to_the_same_secret(with_secret: Cloud) -> None:
    cloud = with_secret
    before = cloud.live("us-central1")
    action = build(cloud, env(set={"DB_PASSWORD": "hunter2"}))
    target = action.targets()[0]
    snapshot = json.loads(json.dumps(await action.snapshot(target)))  # as the store keeps it
    assert snapshot == {"env DB_PASSWORD": {"secret": DB_PASSWORD.secret, "version": "3"}}
    assert [str(c) for c in action.diff(target, snapshot)] == [
        "ion-mentoring-api us-central1 (production): env DB_PASSWORD "
        "secret projects/ion-mentoring/secrets/db-password (version 3) -> hunter2"
    ]
    await action.apply(target, snapshot, cloud.note)
    overridden = cloud.live("us-central1")
    assert overridden.env["DB_PASSWORD"] == "hunter2" and overridden.secrets == {}

    reverted = await action.revert(target, snapshot, cloud.note)
    assert reverted.changed
    assert comparable(cloud.live("us-central1")) == comparable(before)
    assert not (await action.revert(target, snapshot, cloud.note)).changed


async def test_unsetting_a_secret_backed_variable_reverts_to_the_same_secret(with_secret: Cloud) -> None:
    cloud = with_secret
    before = cloud.live("us-central1")
    action = build(cloud, env(unset=["DB_PASSWORD"]))
    snapshots, _ = await run_all(cloud, action)
    assert cloud.live("us-central1").secrets == {}
    await revert_all(cloud, action, snapshots)
    assert comparable(cloud.live("us-central1")) == comparable(before)
