"""Refusals that are not conflicts: a missing service or region (NOT_FOUND) and a service not in a
state to be changed (FAILED_PRECONDITION), each in its own sentence, with nothing further applied."""

from __future__ import annotations

import pytest

from bot.engine.ports import ActionFailed
from bot.sim.world import FailedPrecondition
from tests.cloud.conftest import PROJECT, SERVICE, Cloud
from tests.cloud.test_cloud_run_kinds import build, scale


async def test_a_missing_region_is_named_and_no_later_target_is_touched(cloud: Cloud) -> None:
    action = build(cloud, scale(regions=["us-central1", "us-east4", "europe-west1"], min_instances=1))
    with pytest.raises(ActionFailed) as failed:
        for target in action.targets():  # what the executor does: snapshot, then apply, target by target
            await action.apply(target, await action.snapshot(target), cloud.note)
    assert failed.value.message == (
        "Cloud Run service ion-mentoring-api was not found in us-east4 (project ion-mentoring); nothing was "
        "changed there; check the runbook's service regions and the environment's project. Already changed "
        "by this action: ion-mentoring-api us-central1 (production); roll back to restore them"
    )
    assert not failed.value.retryable
    assert cloud.live("us-central1").min_instances == 1
    assert cloud.live("europe-west1").min_instances == 2
    if cloud.run_facade is not None:
        assert [sent.name.split("/")[3] for sent in cloud.run_facade.updates] == ["us-central1"]


async def test_a_missing_service_changes_nothing_anywhere(cloud: Cloud) -> None:
    del cloud.world.services[(PROJECT, "us-central1", SERVICE)]
    action = build(cloud, scale(min_instances=1))
    with pytest.raises(ActionFailed) as failed:
        for target in action.targets():
            await action.apply(target, await action.snapshot(target), cloud.note)
    assert failed.value.message.startswith(
        "Cloud Run service ion-mentoring-api was not found in us-central1 (project ion-mentoring); nothing was changed"
    )
    assert "Already changed" not in failed.value.message
    assert [cloud.live(r).min_instances for r in ("europe-west1", "asia-southeast1")] == [2, 2]
    if cloud.run_facade is not None:
        assert cloud.run_facade.updates == []


async def test_a_failed_precondition_is_not_called_a_concurrent_edit(cloud: Cloud) -> None:
    def not_ready(config, fields):  # type: ignore[no-untyped-def]
        raise FailedPrecondition("revision ion-mentoring-api-00001 is not ready")

    cloud.world.update_service = not_ready  # type: ignore[method-assign]
    action = build(cloud, scale(regions=["us-central1"], min_instances=1))
    target = action.targets()[0]
    with pytest.raises(ActionFailed) as failed:
        await action.apply(target, await action.snapshot(target), cloud.note)
    assert failed.value.message == (
        "Cloud Run refused updating ion-mentoring-api in us-central1 (project ion-mentoring) in its current "
        "state: revision ion-mentoring-api-00001 is not ready; nothing was changed there; check the service's "
        "conditions in the console, then try again"
    )
    assert failed.value.retryable
    if cloud.run_facade is not None:  # the Google stack: not re-read and retried as a conflict
        assert cloud.run_facade.calls.count("UpdateService") == 1
    assert cloud.live("us-central1").min_instances == 3
