"""Injected faults seen through the kinds: permission denied, 503 bursts, etag conflicts, slow operations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.engine.ports import ActionFailed
from bot.runbook.models import CloudRunEnv, CloudRunScale, CloudSqlTier
from bot.sim.world import TooManyRequests
from tests.cloud.conftest import PROJECT, SERVICE, Cloud, run_all
from tests.cloud.test_cloud_run_kinds import build, deploy, traffic

REGIONS = ("us-central1", "europe-west1", "asia-southeast1")


def scale_all(min_instances: int) -> CloudRunScale:
    return CloudRunScale.model_validate({"kind": "cloud_run.scale", "service": SERVICE, "min_instances": min_instances})


def tier(value: str, timeout: str = "30m") -> CloudSqlTier:
    return CloudSqlTier.model_validate(
        {"kind": "cloud_sql.tier", "instance": "ion-primary", "tier": value, "timeout": timeout}
    )


class TestPermissionDenied:
    async def test_stops_at_the_denied_region_and_names_what_changed(self, cloud: Cloud) -> None:
        cloud.world.deny(PROJECT, "europe-west1")
        action = build(cloud, scale_all(1))
        with pytest.raises(ActionFailed) as failed:
            await run_all(cloud, action)
        message = failed.value.message
        assert message.startswith(
            "permission denied updating ion-mentoring-api in europe-west1 (project ion-mentoring): "
            "grant roles/run.developer to the bot's service account; nothing was changed there"
        )
        assert "Already changed by this action: ion-mentoring-api us-central1 (production)" in message
        assert not failed.value.retryable
        assert [cloud.live(r).min_instances for r in REGIONS] == [1, 2, 2]

    async def test_cloud_sql_denial_says_which_role_is_missing(self, cloud: Cloud) -> None:
        cloud.world.deny(PROJECT, "sql")
        action = build_tier(cloud, tier("db-custom-8-16384"))
        with pytest.raises(ActionFailed) as failed:
            await run_all(cloud, action)
        assert failed.value.message == (
            "permission denied changing the tier of Cloud SQL instance ion-primary (project ion-mentoring): "
            "grant roles/cloudsql.editor to the bot's service account; nothing was changed"
        )
        assert cloud.world.sql[(PROJECT, "ion-primary")].tier == "db-custom-16-32768"


def build_tier(cloud: Cloud, spec: CloudSqlTier):  # type: ignore[no-untyped-def]
    from bot.actions.registry import default_registry

    env = cloud.runbook.environment("production")
    assert env is not None
    return default_registry(cloud.deps, kinds=["cloud_sql.tier"]).build(spec, cloud.runbook, env)


class TestTransientErrors:
    async def test_a_burst_of_503s_is_retried_with_backoff(self, cloud: Cloud) -> None:
        cloud.world.fail_next(3)
        await run_all(cloud, build(cloud, scale_all(1)))
        assert [cloud.live(r).min_instances for r in REGIONS] == [1, 1, 1]
        assert cloud.clock.slept[:3] == [0.5, 1.0, 2.0]

    async def test_429s_are_retried_too(self, cloud: Cloud) -> None:
        cloud.world.fail_next(2, TooManyRequests)
        await run_all(cloud, build_tier(cloud, tier("db-custom-8-16384")))
        assert cloud.world.sql[(PROJECT, "ion-primary")].tier == "db-custom-8-16384"

    async def test_an_endless_outage_gives_up_with_a_retryable_sentence(self, cloud: Cloud) -> None:
        action = build(cloud, scale_all(1))
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        cloud.world.fail_next(50)
        with pytest.raises(ActionFailed) as failed:
            await action.apply(target, snapshot, cloud.note)
        assert failed.value.retryable
        assert "ion-mentoring-api in us-central1 (project ion-mentoring)" in failed.value.message
        assert "still unavailable after 6 attempts" in failed.value.message
        cloud.world.faults.transient.clear()
        assert cloud.live("us-central1").min_instances == 3


class TestConcurrentEdit:
    async def test_an_etag_conflict_rereads_and_keeps_the_other_writers_edit(self, cloud: Cloud) -> None:
        cloud.world.concurrent_edit(PROJECT, "us-central1", SERVICE, env={"FEATURE_X": "on"})
        action = build(cloud, scale_all(1))
        await run_all(cloud, action)
        live = cloud.live("us-central1")
        assert live.min_instances == 1
        assert live.env == {"CACHE_MAX_ITEMS": "1000", "CACHE_TTL": "60", "FEATURE_X": "on"}
        if cloud.run_facade is not None:
            assert cloud.run_facade.calls.count("UpdateService") == 4  # one refused, then one per region

    async def test_an_env_change_retried_after_a_conflict_writes_only_its_own_variables(self, cloud: Cloud) -> None:
        cloud.world.concurrent_edit(PROJECT, "us-central1", SERVICE, env={"CACHE_TTL": "90", "FEATURE_X": "on"})
        spec = CloudRunEnv.model_validate(
            {
                "kind": "cloud_run.env",
                "service": SERVICE,
                "regions": ["us-central1"],
                "set": {"CACHE_MAX_ITEMS": "1500"},
            }
        )
        await run_all(cloud, build(cloud, spec))
        assert cloud.live("us-central1").env == {"CACHE_MAX_ITEMS": "1500", "CACHE_TTL": "90", "FEATURE_X": "on"}

    async def test_a_traffic_change_after_a_conflict_is_reported_not_recomputed(self, cloud: Cloud) -> None:
        await run_all(cloud, build(cloud, deploy(image="img:week17", tag="canary", traffic_percent=10)))
        cloud.world.concurrent_edit(PROJECT, "us-central1", SERVICE, env={"FEATURE_X": "on"})
        before = cloud.live("us-central1")
        with pytest.raises(ActionFailed) as failed:
            await run_all(cloud, build(cloud, traffic(50, to="canary")))
        assert failed.value.message == (
            "ion-mentoring-api in us-central1 (project ion-mentoring) was changed by someone else while the "
            "bot was changing its traffic; the bot changed nothing there; check its new split, then run the "
            "step again"
        )
        assert failed.value.retryable
        after = cloud.live("us-central1")
        assert after.traffic == before.traffic and after.env["FEATURE_X"] == "on"

    async def test_a_second_conflict_is_reported_without_changing_anything(self, cloud: Cloud) -> None:
        action = build(cloud, scale_all(1))
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        original = cloud.world.update_service
        edits = iter(range(1, 100))

        def always_edited(config, fields):  # type: ignore[no-untyped-def]
            cloud.world.concurrent_edit(PROJECT, "us-central1", SERVICE, env={"EDIT": str(next(edits))})
            return original(config, fields)

        cloud.world.update_service = always_edited  # type: ignore[method-assign]
        with pytest.raises(ActionFailed) as failed:
            await action.apply(target, snapshot, cloud.note)
        assert "was changed by someone else twice" in failed.value.message
        assert "the bot changed nothing there" in failed.value.message
        assert cloud.live("us-central1").min_instances == 3
        assert cloud.live("us-central1").env["EDIT"] == "2"


class TestSlowOperations:
    async def test_a_cloud_run_update_that_outlasts_the_timeout_is_reported(self, cloud: Cloud) -> None:
        cloud.world.slow_operations(timedelta(minutes=20))
        action = build(cloud, scale_all(1))
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        with pytest.raises(ActionFailed) as failed:
            await action.apply(target, snapshot, cloud.note)
        assert failed.value.message == (
            "the update of ion-mentoring-api in us-central1 (project ion-mentoring) did not finish within "
            "10 min; it may still land: read the service back before retrying or reverting"
        )
        assert failed.value.retryable
        await cloud.clock.sleep(15 * 60)
        assert cloud.world.get_service(PROJECT, "us-central1", SERVICE).min_instances == 1

    async def test_a_slow_tier_change_within_the_timeout_is_waited_for(self, cloud: Cloud) -> None:
        cloud.world.slow_operations(timedelta(minutes=12))
        _, outcomes = await run_all(cloud, build_tier(cloud, tier("db-custom-8-16384")))
        assert outcomes[0].changed
        assert cloud.world.sql[(PROJECT, "ion-primary")].tier == "db-custom-8-16384"

    async def test_a_tier_change_past_its_timeout_says_it_may_still_land(self, cloud: Cloud) -> None:
        cloud.world.slow_operations(timedelta(minutes=45))
        with pytest.raises(ActionFailed) as failed:
            await run_all(cloud, build_tier(cloud, tier("db-custom-8-16384", timeout="30m")))
        assert "did not finish within 30 min; it is still running and may land" in failed.value.message
        assert "gcloud sql operations list --instance=ion-primary" in failed.value.message
