"""An update that outlasts its timeout fails the step, yet may land later: the rollback must then
restore it too. The real action kinds run over the sim world, whose operations land on the virtual
clock (``World.slow_operations``), so "later" is a clock move, not a sleep."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.actions.base import ActionDeps
from bot.actions.registry import default_registry
from bot.cloud.cloud_run import CloudRunGateway, Pending
from bot.cloud.ports import ServiceConfig
from bot.engine.clock import VirtualClock
from bot.engine.executor import ExecutionResult
from bot.engine.ports import JSON
from bot.engine.records import StepState, TargetStatus
from bot.engine.rollout import Rollout
from bot.runbook.models import Runbook
from bot.sim.sim_cloud import SimCloudSql, WorldRunCalls
from bot.sim.world import World
from tests.engine.fakes import FakeChecker, FakeNotifier, FakeStore
from tests.engine.harness import CHANNEL, POLICY, START, lee, sam

PROJECT = "ion-prod"
SERVICE = "ion-api"
SMALL, LARGE = "db-custom-8-16384", "db-custom-16-32768"

RUNBOOK: dict[str, Any] = {
    "id": "late-landing",
    "title": "Late landing",
    "calendar": {"working_days": 10, "timezone": "America/Chicago"},
    "environments": [{"name": "production", "project": PROJECT, "production": True}],
    "services": [{"name": SERVICE, "regions": ["us-central1", "europe-west1"]}],
    "sql_instances": [{"name": "ion-primary", "environment": "production", "tier": LARGE}],
    "schedule": {"daily_report_at": "17:00"},
    "days": [
        {
            "number": 1,
            "title": "Day 1",
            "steps": [
                {
                    "id": "day1.1",
                    "title": "Scale down",
                    "actions": [{"kind": "cloud_run.scale", "service": SERVICE, "min_instances": 1}],
                },
                {
                    "id": "day1.2",
                    "title": "Smaller database tier",
                    "actions": [{"kind": "cloud_sql.tier", "instance": "ion-primary", "tier": SMALL, "timeout": "10m"}],
                },
            ],
        }
    ],
}


class MemorySettings:
    def __init__(self) -> None:
        self.values: dict[str, JSON] = {}

    async def get_value(self, key: str) -> JSON | None:
        return self.values.get(key)

    async def put_value(self, key: str, value: JSON) -> None:
        self.values[key] = value

    async def delete_value(self, key: str) -> None:
        self.values.pop(key, None)


class OtherWriter(WorldRunCalls):
    """Cloud Run as the bot reaches it, with someone else who, once ``armed``, sets min-instances
    to ``theirs`` in us-central1 right after the bot's next update there has landed."""

    def __init__(self, world: World) -> None:
        super().__init__(world)
        self.armed = False
        self.theirs = 7

    async def start_update(self, config: ServiceConfig, fields: frozenset[str]) -> Pending:
        pending = await super().start_update(config, fields)
        if self.armed and config.region == "us-central1":
            self.armed = False
            live = self.world.get_service(config.project, config.region, config.name)
            self.world.update_service(replace(live, min_instances=self.theirs), frozenset({"min_instances"}))
        return pending


class SimBench:
    """A Rollout whose actions are the real kinds over the sim world, on one virtual clock."""

    def __init__(self) -> None:
        self.clock = VirtualClock(datetime(2026, 10, 29, 14, 0, tzinfo=UTC))
        runbook = Runbook.model_validate(RUNBOOK)
        self.world = World.seeded(runbook, now=self.clock.now)
        self.run_calls = OtherWriter(self.world)
        unused: Any = None  # http, sql and the checker belong to kinds these steps do not use
        deps = ActionDeps(
            CloudRunGateway(self.run_calls, clock=self.clock),
            SimCloudSql(self.world, self.clock),
            unused,
            unused,
            unused,
            self.clock,
            MemorySettings(),
        )
        registry = default_registry(deps, kinds=["cloud_run.scale", "cloud_sql.tier"])
        checker = FakeChecker()
        self.rollout = Rollout(runbook, FakeStore(), registry, checker, FakeNotifier(), self.clock, POLICY)

    def tier(self) -> str:
        """Read as the API does: operations whose time has come land on the read."""
        return self.world.get_instance(PROJECT, "ion-primary").tier

    def min_instances(self) -> list[int]:
        return [self.world.get_service(PROJECT, r, SERVICE).min_instances for r in ("us-central1", "europe-west1")]

    async def run(self, step_id: str, ahead: timedelta) -> ExecutionResult:
        """Run ``step_id`` in production and move the clock ``ahead`` while it waits on the operations."""
        await self.rollout.start_run(CHANNEL, START, lee)
        plan = await self.rollout.request_run(CHANNEL, step_id, "production", sam)
        await self.rollout.approve(CHANNEL, step_id, "production", lee)
        started = await self.rollout.start_execution(CHANNEL, step_id, "production", sam, plan.fingerprint)
        await self.clock.advance(ahead)
        assert started.task.done(), f"{step_id} was still running after {ahead}"
        return started.task.result()


class TestATimedOutUpdateThatLandsLater:
    async def test_a_tier_change_landing_after_its_timeout_is_rolled_back_to_the_snapshot(self) -> None:
        bench = SimBench()
        bench.world.slow_operations(timedelta(minutes=45))
        result = await bench.run("day1.2", timedelta(minutes=15))

        assert not result.ok and result.lane.state is StepState.FAILED
        assert "did not finish within 10 min; it is still running and may land" in result.message
        assert bench.tier() == LARGE  # not landed yet
        early = await bench.rollout.rollback_preview(CHANNEL, "day1.2", sam)
        assert early.targets == [] and early.lines[1:] == ["ion-primary (production): unchanged, nothing to restore"]

        await bench.clock.advance(timedelta(minutes=40))
        assert bench.tier() == SMALL  # it landed after all
        bench.world.slow_operations(timedelta(0))
        preview = await bench.rollout.rollback_preview(CHANNEL, "last", sam)
        assert preview.step_id == "day1.2"
        assert preview.lines == [f"ion-primary (production): tier {SMALL} -> {LARGE}"]
        [failed] = preview.targets
        assert failed.status is TargetStatus.FAILED and failed.snapshot == {"tier": LARGE}

        undone = await bench.rollout.confirm_rollback(CHANNEL, "last", sam)

        assert undone.ok and undone.lane.state is StepState.ROLLED_BACK, undone.message
        assert bench.tier() == LARGE
        again = await bench.rollout.rollback_preview(CHANNEL, "day1.2", sam)
        assert again.already_rolled_back

    async def test_a_cloud_run_update_landing_after_its_timeout_is_restored_with_the_applied_ones(self) -> None:
        bench = SimBench()
        before = bench.min_instances()
        bench.world.slow_operations(timedelta(minutes=20))
        result = await bench.run("day1.1", timedelta(minutes=12))

        assert not result.ok and "did not finish within 10 min; it may still land" in result.message
        await bench.clock.advance(timedelta(minutes=15))
        assert bench.min_instances()[0] == 1  # the first region's update landed late
        bench.world.slow_operations(timedelta(0))

        undone = await bench.rollout.confirm_rollback(CHANNEL, "day1.1", sam)

        assert undone.ok and undone.lane.state is StepState.ROLLED_BACK, undone.message
        assert bench.min_instances() == before
        assert [r.target_label for r in undone.reverted] == [f"{SERVICE} us-central1 (production)"]


class TestARollbackIsReadBack:
    async def test_a_restore_that_someone_else_overwrites_at_once_fails_the_rollback_and_says_so(self) -> None:
        bench = SimBench()
        before = bench.min_instances()
        result = await bench.run("day1.1", timedelta(minutes=5))
        assert result.ok and bench.min_instances() == [1, 1]

        bench.run_calls.armed = True
        undone = await bench.rollout.confirm_rollback(CHANNEL, "day1.1", sam)

        assert not undone.ok and undone.lane.state is StepState.FAILED
        assert bench.min_instances() == [7, before[1]]  # newest first: europe-west1 was restored, then ours
        assert f"{SERVICE} us-central1 (production) was written back but now reads" in undone.message
        assert f"Restored: {SERVICE} europe-west1 (production)." in undone.message
        assert f"Still changed: {SERVICE} us-central1 (production)." in undone.message

    async def test_a_restore_that_holds_is_reported_restored(self) -> None:
        bench = SimBench()
        before = bench.min_instances()
        assert (await bench.run("day1.1", timedelta(minutes=5))).ok

        undone = await bench.rollout.confirm_rollback(CHANNEL, "day1.1", sam)

        assert undone.ok and undone.lane.state is StepState.ROLLED_BACK, undone.message
        assert bench.min_instances() == before
