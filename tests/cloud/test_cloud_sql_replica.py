"""cloud_sql.replica, cloud_sql.promote and cloud_sql.delete (day 7's downsizing and day 9's standby
deletion) with the real sqladmin_v1beta4 REST client against the Cloud SQL facade, and in-process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.actions.registry import default_registry
from bot.engine.ports import Action, ActionFailed
from bot.runbook.models import CloudSqlDelete, CloudSqlPromote, CloudSqlReplica
from tests.cloud.conftest import PROJECT, Cloud

REPLICA = {
    "kind": "cloud_sql.replica",
    "instance": "ion-primary-small",
    "master": "ion-primary",
    "tier": "db-custom-8-16384",
}
PROMOTE = {"kind": "cloud_sql.promote", "instance": "ion-primary-small", "standby": "ion-primary"}
DELETE = {"kind": "cloud_sql.delete", "instance": "ion-primary", "after_promotion_of": "ion-primary-small"}


def build(cloud: Cloud, spec: Any) -> Action:
    env = cloud.runbook.environment("production")
    assert env is not None
    return default_registry(cloud.deps, kinds=[spec.kind]).build(spec, cloud.runbook, env)


def replica(cloud: Cloud) -> Action:
    return build(cloud, CloudSqlReplica.model_validate(REPLICA))


def promote(cloud: Cloud) -> Action:
    return build(cloud, CloudSqlPromote.model_validate(PROMOTE))


def delete(cloud: Cloud) -> Action:
    return build(cloud, CloudSqlDelete.model_validate(DELETE))


async def created(cloud: Cloud) -> None:
    action = replica(cloud)
    target = action.targets()[0]
    assert (await action.apply(target, await action.snapshot(target), cloud.note)).changed


class TestReplica:
    async def test_creates_a_replica_on_the_smaller_tier_and_its_revert_deletes_it(self, cloud: Cloud) -> None:
        action = replica(cloud)
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        assert snapshot == {"exists": False}
        assert [str(c) for c in action.diff(target, snapshot)] == [
            "ion-primary-small (production): instance absent -> read replica of ion-primary on db-custom-8-16384"
        ]
        outcome = await action.apply(target, snapshot, cloud.note)
        assert outcome.ok and outcome.changed
        live = cloud.world.sql[(PROJECT, "ion-primary-small")]
        assert (live.master, live.tier, live.state) == ("ion-primary", "db-custom-8-16384", "RUNNABLE")
        assert cloud.world.sql[(PROJECT, "ion-primary")].replicas == ["ion-primary-small"]
        assert (await action.verify(target)).ok
        assert not (await action.apply(target, snapshot, cloud.note)).changed
        reverted = await action.revert(target, snapshot, cloud.note)
        assert reverted.changed
        assert reverted.message == "ion-primary-small (production): replica deleted, as before the step"
        assert (PROJECT, "ion-primary-small") not in cloud.world.sql
        assert await action.read_back(target) == snapshot
        if cloud.sql_facade is not None:
            assert {"POST instances", "DELETE instance", "GET operation"} <= set(cloud.sql_facade.calls)

    async def test_polls_a_slow_creation_until_its_operation_is_done(self, cloud: Cloud) -> None:
        cloud.world.slow_operations(timedelta(minutes=7))
        action = replica(cloud)
        target = action.targets()[0]
        started = cloud.clock.now()
        assert (await action.apply(target, {"exists": False}, cloud.note)).ok
        assert cloud.clock.now() - started >= timedelta(minutes=7)
        assert cloud.world.sql[(PROJECT, "ion-primary-small")].state == "RUNNABLE"

    async def test_a_creation_that_outlasts_its_timeout_says_it_may_still_land(self, cloud: Cloud) -> None:
        cloud.world.slow_operations(timedelta(hours=2))
        action = replica(cloud)
        with pytest.raises(ActionFailed, match=r"did not finish within 30 min; it is still running and may land"):
            await action.apply(action.targets()[0], {"exists": False}, cloud.note)

    async def test_an_instance_of_that_name_that_is_no_such_replica_is_left_alone(self, cloud: Cloud) -> None:
        cloud.world.add_sql_instance(PROJECT, "ion-primary-small", "db-custom-4-8192")
        action = replica(cloud)
        with pytest.raises(ActionFailed, match=r"already exists as a primary on db-custom-4-8192.*nothing was changed"):
            await action.apply(action.targets()[0], {"exists": False}, cloud.note)

    async def test_a_denied_creation_names_the_role_to_grant(self, cloud: Cloud) -> None:
        cloud.world.deny(PROJECT, "sql")
        action = replica(cloud)
        with pytest.raises(ActionFailed, match=r"permission denied creating .*roles/cloudsql.editor"):
            await action.apply(action.targets()[0], {"exists": False}, cloud.note)
        assert (PROJECT, "ion-primary-small") not in cloud.world.sql


class TestPromote:
    async def test_promotes_and_then_refuses_to_revert_naming_the_standby(self, cloud: Cloud) -> None:
        await created(cloud)
        action = promote(cloud)
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        assert [str(c) for c in action.diff(target, snapshot)] == [
            "ion-primary-small (production): role read replica of ion-primary -> primary"
        ]
        outcome = await action.apply(target, snapshot, cloud.note)
        assert outcome.changed and "ion-primary is the standby" in outcome.message
        assert cloud.world.sql[(PROJECT, "ion-primary-small")].master is None
        assert cloud.world.sql[(PROJECT, "ion-primary")].replicas == []
        assert (await action.verify(target)).ok
        refusal = action.revert_refusal(target, snapshot, await action.read_back(target))  # type: ignore[attr-defined]
        assert refusal is not None
        assert "Cloud SQL cannot demote a primary back to a read replica" in refusal
        assert "The fallback is the standby ion-primary" in refusal
        with pytest.raises(ActionFailed, match="cannot demote"):
            await action.revert(target, snapshot, cloud.note)
        assert cloud.world.sql[(PROJECT, "ion-primary-small")].master is None
        if cloud.sql_facade is not None:
            assert "POST promoteReplica" in cloud.sql_facade.calls

    async def test_the_replica_revert_never_deletes_a_promoted_instance(self, cloud: Cloud) -> None:
        await created(cloud)
        target = promote(cloud).targets()[0]
        await promote(cloud).apply(target, {"role": "read replica of ion-primary"}, cloud.note)
        action = replica(cloud)
        with pytest.raises(ActionFailed, match="was promoted to a primary after it was created"):
            await action.revert(action.targets()[0], {"exists": False}, cloud.note)
        assert (PROJECT, "ion-primary-small") in cloud.world.sql

    async def test_a_replica_of_another_primary_is_not_promoted(self, cloud: Cloud) -> None:
        await created(cloud)
        spec = CloudSqlPromote.model_validate({**PROMOTE, "standby": "ion-other"})
        action = build(cloud, spec)
        with pytest.raises(ActionFailed, match="not of ion-other as the runbook says"):
            await action.apply(action.targets()[0], {}, cloud.note)


class TestDeleteTheStandby:
    async def test_refuses_before_48_hours_then_deletes_and_cannot_be_reverted(self, cloud: Cloud) -> None:
        await created(cloud)
        await promote(cloud).apply(promote(cloud).targets()[0], {}, cloud.note)
        action = delete(cloud)
        target = action.targets()[0]
        snapshot = await action.snapshot(target)
        assert [str(c) for c in action.diff(target, snapshot)] == [
            "ion-primary (production): instance primary on db-custom-16-32768 -> deleted"
        ]
        cloud.clock._now += timedelta(hours=47)
        with pytest.raises(ActionFailed, match=r"kept as the standby for 48h .* only 47h so far; nothing was deleted"):
            await action.apply(target, snapshot, cloud.note)
        assert (PROJECT, "ion-primary") in cloud.world.sql
        cloud.clock._now += timedelta(hours=1)
        outcome = await action.apply(target, snapshot, cloud.note)
        assert outcome.changed and (PROJECT, "ion-primary") not in cloud.world.sql
        assert (await action.verify(target)).ok
        refusal = action.revert_refusal(target, snapshot, await action.read_back(target))  # type: ignore[attr-defined]
        assert refusal is not None and "cannot be brought back by the bot" in refusal
        if cloud.sql_facade is not None:
            assert "GET operations" in cloud.sql_facade.calls

    async def test_refuses_while_the_replacement_was_never_promoted(self, cloud: Cloud) -> None:
        await created(cloud)
        action = delete(cloud)
        with pytest.raises(ActionFailed, match="has not been promoted to a primary"):
            await action.apply(action.targets()[0], {"exists": True}, cloud.note)
        assert (PROJECT, "ion-primary") in cloud.world.sql
