"""Each Cloud Run kind end to end: plan text, apply, idempotent re-apply, verify, exact revert."""

from __future__ import annotations

from typing import Any

import pytest

from bot.actions.registry import default_registry
from bot.engine.ports import Action, ActionFailed
from bot.runbook.models import CloudRunDeploy, CloudRunEnv, CloudRunScale, CloudRunTraffic
from tests.cloud.conftest import SERVICE, Cloud, comparable, revert_all, run_all

MINE = ["cloud_run.scale", "cloud_run.env", "cloud_run.traffic", "cloud_run.deploy"]


def build(cloud: Cloud, spec: Any, environment: str = "production") -> Action:
    env = cloud.runbook.environment(environment)
    assert env is not None
    return default_registry(cloud.deps, kinds=MINE).build(spec, cloud.runbook, env)


def scale(**fields: Any) -> CloudRunScale:
    return CloudRunScale.model_validate({"kind": "cloud_run.scale", "service": SERVICE, **fields})


class TestScale:
    async def test_plans_applies_once_and_reverts_to_the_exact_config(self, cloud: Cloud) -> None:
        before = cloud.live("us-central1")
        action = build(cloud, scale(regions=["us-central1"], min_instances=2))
        assert action.describe() == "Scale ion-mentoring-api in us-central1 (production): minInstances 2"
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        assert snapshot == {"minInstances": 3}
        assert [str(c) for c in action.diff(target, snapshot)] == [
            "ion-mentoring-api us-central1 (production): minInstances 3 -> 2"
        ]

        outcome = await action.apply(target, snapshot, cloud.note)
        assert outcome.changed and cloud.live("us-central1").min_instances == 2
        assert cloud.live("europe-west1").min_instances == 2  # untouched, its baseline
        assert (await action.verify(target)).ok

        again = await action.apply(target, snapshot, cloud.note)
        assert not again.changed and "already at minInstances 2" in again.message
        assert action.diff(target, await action.read_back(target)) == []

        reverted = await action.revert(target, snapshot, cloud.note)
        assert reverted.changed
        assert comparable(cloud.live("us-central1")) == comparable(before)

    async def test_all_regions_means_every_region_of_the_service(self, cloud: Cloud) -> None:
        action = build(cloud, scale(min_instances=1, max_instances=50))
        assert [t.label for t in action.targets()] == [
            "ion-mentoring-api us-central1 (production)",
            "ion-mentoring-api europe-west1 (production)",
            "ion-mentoring-api asia-southeast1 (production)",
        ]
        await run_all(cloud, action)
        assert {cloud.live(r).min_instances for r in ("us-central1", "europe-west1", "asia-southeast1")} == {1}

    async def test_staging_binding_changes_the_staging_project_only(self, cloud: Cloud) -> None:
        action = build(cloud, scale(regions=["us-central1"], min_instances=2), environment="staging")
        await run_all(cloud, action)
        assert cloud.live("us-central1", project="ion-mentoring-staging").min_instances == 2
        assert cloud.live("us-central1").min_instances == 3


class TestEnv:
    async def test_sets_and_unsets_as_a_new_revision_and_revert_unsets_what_was_unset(self, cloud: Cloud) -> None:
        cloud.world.add_service("ion-mentoring", "us-east1", SERVICE, env={"CACHE_TTL": "60", "OLD_FLAG": "1"})
        before = cloud.live("us-east1")
        spec = CloudRunEnv.model_validate(
            {
                "kind": "cloud_run.env",
                "service": SERVICE,
                "regions": ["us-east1"],
                "set": {"CACHE_MAX_ITEMS": "1500", "CACHE_TTL": "45"},
                "unset": ["OLD_FLAG"],
            }
        )
        action = build(cloud, spec)
        assert action.describe() == (
            "Env of ion-mentoring-api in us-east1 (production): set CACHE_MAX_ITEMS=1500, CACHE_TTL=45; "
            "unset OLD_FLAG (a new revision)"
        )
        snapshots, _ = await run_all(cloud, action)
        target = action.targets()[0]
        assert [str(c) for c in action.diff(target, snapshots[target.key])] == [
            "ion-mentoring-api us-east1 (production): env CACHE_MAX_ITEMS (unset) -> 1500",
            "ion-mentoring-api us-east1 (production): env CACHE_TTL 60 -> 45",
            "ion-mentoring-api us-east1 (production): env OLD_FLAG 1 -> (unset)",
        ]
        after = cloud.live("us-east1")
        assert after.env == {"CACHE_MAX_ITEMS": "1500", "CACHE_TTL": "45"}
        assert after.latest_revision != before.latest_revision
        assert not (await action.apply(target, snapshots[target.key], cloud.note)).changed

        await revert_all(cloud, action, snapshots)
        restored = cloud.live("us-east1")
        assert restored.env == {"CACHE_TTL": "60", "OLD_FLAG": "1"}
        assert comparable(restored) == comparable(before)

    async def test_listeners_hear_the_new_env(self, cloud: Cloud) -> None:
        heard: list[dict[str, str]] = []
        cloud.world.subscribe(lambda change: heard.append(dict(change.service.env)) if change.service else None)
        spec = CloudRunEnv.model_validate(
            {
                "kind": "cloud_run.env",
                "service": SERVICE,
                "regions": ["us-central1"],
                "set": {"CACHE_MAX_ITEMS": "1500"},
            }
        )
        await run_all(cloud, build(cloud, spec))
        assert heard and heard[-1]["CACHE_MAX_ITEMS"] == "1500"


def deploy(**fields: Any) -> CloudRunDeploy:
    return CloudRunDeploy.model_validate(
        {"kind": "cloud_run.deploy", "service": SERVICE, "regions": ["us-central1"], **fields}
    )


def traffic(percent: int, to: str = "latest") -> CloudRunTraffic:
    return CloudRunTraffic.model_validate(
        {
            "kind": "cloud_run.traffic",
            "service": SERVICE,
            "regions": ["us-central1"],
            "percent": percent,
            "to": to,
        }
    )


class TestDeploy:
    async def test_new_revision_gets_no_traffic_and_revert_restores_everything(self, cloud: Cloud) -> None:
        before = cloud.live("us-central1")
        action = build(cloud, deploy(image="us-docker.pkg.dev/ion/api:week17", tag="canary", env={"CACHE_TTL": "45"}))
        assert action.describe() == (
            "Deploy us-docker.pkg.dev/ion/api:week17 to ion-mentoring-api in us-central1 (production) "
            "as a new revision (0% traffic, tag canary, env CACHE_TTL=45)"
        )
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        assert [str(c) for c in action.diff(target, snapshot)] == [
            "ion-mentoring-api us-central1 (production): image us-docker.pkg.dev/ion-mentoring/ion/"
            "ion-mentoring-api:week16 -> us-docker.pkg.dev/ion/api:week17",
            "ion-mentoring-api us-central1 (production): env CACHE_TTL 60 -> 45",
            "ion-mentoring-api us-central1 (production): traffic 100% latest -> "
            "100% ion-mentoring-api-00001, 0% latest (canary)",
        ]
        assert (await action.apply(target, snapshot, cloud.note)).changed
        after = cloud.live("us-central1")
        assert after.image == "us-docker.pkg.dev/ion/api:week17"
        assert after.latest_revision == "ion-mentoring-api-00002"
        assert [(s.percent, s.revision, s.latest, s.tag) for s in after.traffic] == [
            (100, "ion-mentoring-api-00001", False, None),
            (0, None, True, "canary"),
        ]
        assert (await action.verify(target)).ok
        assert not (await action.apply(target, snapshot, cloud.note)).changed

        await action.revert(target, snapshot, cloud.note)
        assert comparable(cloud.live("us-central1")) == comparable(before)

    async def test_canary_share_takes_from_the_serving_revision(self, cloud: Cloud) -> None:
        await run_all(cloud, build(cloud, deploy(image="img:week17", traffic_percent=10)))
        assert [(s.percent, s.latest) for s in cloud.live("us-central1").traffic] == [(90, False), (10, True)]


class TestTraffic:
    async def test_shifts_share_promotes_and_revert_returns_to_the_previous_split(self, cloud: Cloud) -> None:
        await run_all(cloud, build(cloud, deploy(image="img:week17", tag="canary", traffic_percent=10)))
        canary_split = cloud.live("us-central1")

        half = build(cloud, traffic(50, to="canary"))
        assert half.describe() == (
            "Send 50% of ion-mentoring-api in us-central1 (production) traffic to the revision tagged canary"
        )
        snapshots, _ = await run_all(cloud, half)
        target = half.targets()[0]
        assert [str(c) for c in half.diff(target, snapshots[target.key])] == [
            "ion-mentoring-api us-central1 (production): traffic "
            "90% ion-mentoring-api-00001, 10% latest (canary) -> "
            "50% ion-mentoring-api-00001, 50% latest (canary)"
        ]
        assert [s.percent for s in cloud.live("us-central1").traffic] == [50, 50]

        promote = build(cloud, traffic(100))
        assert promote.describe().startswith("Promote the latest revision of ion-mentoring-api")
        promoted, _ = await run_all(cloud, promote)
        assert [(s.percent, s.latest, s.tag) for s in cloud.live("us-central1").traffic] == [(100, True, "canary")]
        assert not (await promote.apply(target, promoted[target.key], cloud.note)).changed

        await revert_all(cloud, promote, promoted)
        await revert_all(cloud, half, snapshots)
        assert comparable(cloud.live("us-central1")) == comparable(canary_split)

    async def test_unknown_tag_is_refused_in_plain_words(self, cloud: Cloud) -> None:
        action = build(cloud, traffic(20, to="blue"))
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        with pytest.raises(ActionFailed) as refused:
            action.diff(target, snapshot)
        assert "no revision of ion-mentoring-api in us-central1 (production) is tagged 'blue'" in str(refused.value)
        assert "nothing was changed" in refused.value.message
