"""cloud_sql.tier and scaling.schedule (day 2.3), plus the registry that builds every kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.actions.registry import UnknownActionKind, default_registry
from bot.actions.scaling_schedule import apply_scaling_rules
from bot.runbook.models import CloudSqlTier, Manual, ScalingSchedule
from tests.cloud.conftest import PROJECT, SERVICE, Cloud, comparable, revert_all, run_all
from tests.cloud.test_faults import build_tier

REGIONS = ("us-central1", "europe-west1", "asia-southeast1")


class TestTier:
    async def test_plans_applies_once_and_reverts(self, cloud: Cloud) -> None:
        spec = CloudSqlTier.model_validate(
            {"kind": "cloud_sql.tier", "instance": "ion-primary", "tier": "db-custom-8-16384"}
        )
        action = build_tier(cloud, spec)
        assert action.describe() == (
            "Change Cloud SQL ion-primary (project ion-mentoring) to tier db-custom-8-16384, "
            "waiting up to 30m for the operation"
        )
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        assert [str(c) for c in action.diff(target, snapshot)] == [
            "ion-primary (production): tier db-custom-16-32768 -> db-custom-8-16384"
        ]
        assert (await action.apply(target, snapshot, cloud.note)).changed
        assert (await action.verify(target)).ok
        again = await action.apply(target, snapshot, cloud.note)
        assert not again.changed and again.message == "ion-primary (production): already at tier db-custom-8-16384"
        await action.revert(target, snapshot, cloud.note)
        assert await action.read_back(target) == {"tier": "db-custom-16-32768"}
        if cloud.sql_facade is not None:
            assert "PATCH instance" in cloud.sql_facade.calls


def schedule() -> ScalingSchedule:
    return ScalingSchedule.model_validate(
        {
            "kind": "scaling.schedule",
            "service": SERVICE,
            "rules": [
                {
                    "name": "Morning spike",
                    "start": "08:00",
                    "end": "09:00",
                    "min_instances": 4,
                    "max_instances": 150,
                },
                {
                    "name": "Lunch spike",
                    "start": "12:00",
                    "end": "13:00",
                    "min_instances": 4,
                    "max_instances": 150,
                },
                {
                    "name": "Evening spike",
                    "start": "17:00",
                    "end": "18:00",
                    "min_instances": 3,
                    "max_instances": 120,
                },
            ],
            "otherwise": {
                "name": "Other",
                "start": "00:00",
                "end": "00:00",
                "min_instances": 2,
                "max_instances": 80,
            },
        }
    )


def chicago(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 4, 21, hour + 5, minute, tzinfo=UTC)  # CDT is UTC-5


class TestScalingSchedule:
    async def test_stores_rules_applies_the_current_window_and_reverts_both(self, cloud: Cloud) -> None:
        cloud.clock._now = chicago(8, 30)
        before = {r: cloud.live(r) for r in REGIONS}
        env = cloud.runbook.environment("production")
        assert env is not None
        action = default_registry(cloud.deps, kinds=["scaling.schedule"]).build(schedule(), cloud.runbook, env)
        assert action.describe() == (
            "Time-of-day scaling for ion-mentoring-api in us-central1, europe-west1, asia-southeast1 "
            "(production): 08:00-09:00 4/150, 12:00-13:00 4/150, 17:00-18:00 3/120, "
            "otherwise 2/80 (min/max); checked every hour"
        )
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        assert [str(c) for c in action.diff(target, snapshot)] == [
            "ion-mentoring-api us-central1 (production): minInstances 3 -> 4",
            "ion-mentoring-api us-central1 (production): maxInstances 100 -> 150",
            "ion-mentoring-api us-central1 (production): scaling rules (unset) -> 08:00-09:00 4/150, "
            "12:00-13:00 4/150, 17:00-18:00 3/120, otherwise 2/80 (min/max)",
        ]
        snapshots, _ = await run_all(cloud, action)
        assert cloud.deps.settings.values["scaling:production:ion-mentoring-api"]["regions"] == list(REGIONS)  # type: ignore[attr-defined]
        assert [(cloud.live(r).min_instances, cloud.live(r).max_instances) for r in REGIONS] == [(4, 150)] * 3
        assert all([(await action.verify(t)).ok for t in action.targets()])

        await revert_all(cloud, action, snapshots)
        assert await cloud.deps.settings.get_value("scaling:production:ion-mentoring-api") is None
        assert {r: comparable(cloud.live(r)) for r in REGIONS} == {r: comparable(c) for r, c in before.items()}

    async def test_the_hourly_job_follows_the_windows_and_is_idempotent(self, cloud: Cloud) -> None:
        cloud.clock._now = chicago(12, 10)
        env = cloud.runbook.environment("production")
        assert env is not None
        action = default_registry(cloud.deps, kinds=["scaling.schedule"]).build(schedule(), cloud.runbook, env)
        await run_all(cloud, action)

        assert await apply_scaling_rules(cloud.deps, cloud.runbook, chicago(12, 40)) == []
        changed = await apply_scaling_rules(cloud.deps, cloud.runbook, chicago(14))
        assert changed[0] == (
            "ion-mentoring-api us-central1 (production): minInstances 4 -> 2, maxInstances 150 -> 80 (Other)"
        )
        assert len(changed) == 3
        assert await apply_scaling_rules(cloud.deps, cloud.runbook, chicago(14) + timedelta(hours=1)) == []
        evening = await apply_scaling_rules(cloud.deps, cloud.runbook, chicago(17, 5))
        assert evening[-1].endswith("minInstances 2 -> 3, maxInstances 80 -> 120 (Evening spike)")

    async def test_the_hourly_job_reports_a_denied_region_and_carries_on(self, cloud: Cloud) -> None:
        cloud.clock._now = chicago(8, 30)
        env = cloud.runbook.environment("production")
        assert env is not None
        action = default_registry(cloud.deps, kinds=["scaling.schedule"]).build(schedule(), cloud.runbook, env)
        await run_all(cloud, action)
        cloud.world.deny(PROJECT, "europe-west1")
        report = await apply_scaling_rules(cloud.deps, cloud.runbook, chicago(10))
        assert report[1].startswith("ion-mentoring-api europe-west1 (production): not changed: permission denied")
        assert cloud.live("asia-southeast1").min_instances == 2


class TestRegistry:
    async def test_an_unregistered_kind_is_refused_with_the_known_kinds(self, cloud: Cloud) -> None:
        registry = default_registry(cloud.deps, kinds=["cloud_run.scale"])
        env = cloud.runbook.environment("production")
        assert env is not None
        spec = Manual.model_validate({"kind": "manual", "instruction": "check the dashboard"})
        with pytest.raises(UnknownActionKind, match=r"no action kind 'manual' is registered.*cloud_run\.scale"):
            registry.build(spec, cloud.runbook, env)

    async def test_a_kind_without_a_module_is_refused(self, cloud: Cloud) -> None:
        with pytest.raises(UnknownActionKind, match=r"no module provides action kind 'cloud_run\.delete'"):
            default_registry(cloud.deps, kinds=["cloud_run.delete"])

    async def test_the_default_registry_knows_every_runbook_kind(self, cloud: Cloud) -> None:
        from bot.runbook.models import ACTION_KINDS

        assert default_registry(cloud.deps).kinds() == sorted(ACTION_KINDS)
