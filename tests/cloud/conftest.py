"""Shared fixtures: a seeded world, a jumping virtual clock, and the two stacks the kinds run on:
the REAL google clients against the sim facades ("google"), and the sim adapters in-process ("sim").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.cloud import run_v2
from google.cloud.run_v2.services.services.transports import ServicesGrpcAsyncIOTransport

from bot.actions.base import ActionDeps
from bot.cloud.cloud_run import GoogleCloudRun
from bot.cloud.cloud_sql import GoogleCloudSql, rest_clients
from bot.cloud.ports import ServiceConfig
from bot.engine.ports import JSON, Action, Outcome
from bot.runbook.models import Runbook
from bot.sim.cloud_run_facade import CloudRunFacade
from bot.sim.cloud_sql_facade import CloudSqlFacade
from bot.sim.sim_cloud import SimCloudRun, SimCloudSql
from bot.sim.world import World

PROJECT = "ion-mentoring"
SERVICE = "ion-mentoring-api"


class JumpClock:
    """Virtual time that jumps forward on every sleep: back-off and polling cost nothing."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


class MemorySettings:
    def __init__(self) -> None:
        self.values: dict[str, JSON] = {}

    async def get_value(self, key: str) -> JSON | None:
        return self.values.get(key)

    async def put_value(self, key: str, value: JSON) -> None:
        self.values[key] = value

    async def delete_value(self, key: str) -> None:
        self.values.pop(key, None)


def make_runbook() -> Runbook:
    return Runbook.model_validate(
        {
            "id": "week17",
            "title": "Week 17",
            "calendar": {"working_days": 10},
            "environments": [
                {"name": "production", "project": PROJECT, "production": True},
                {"name": "staging", "project": "ion-mentoring-staging"},
            ],
            "services": [{"name": SERVICE, "regions": ["us-central1", "europe-west1", "asia-southeast1"]}],
            "sql_instances": [{"name": "ion-primary", "tier": "db-custom-16-32768"}],
            "schedule": {"daily_report_at": "17:00"},
        }
    )


@dataclass
class Cloud:
    """One stack: the world behind it, the deps the kinds get, and the facades (google only)."""

    stack: str
    world: World
    clock: JumpClock
    deps: ActionDeps
    runbook: Runbook
    run_facade: CloudRunFacade | None = None
    sql_facade: CloudSqlFacade | None = None
    progress: list[str] = field(default_factory=list)

    def live(self, region: str, project: str = PROJECT) -> ServiceConfig:
        return self.world.services[(project, region, SERVICE)].config()

    async def note(self, line: str) -> None:
        self.progress.append(line)


def comparable(config: ServiceConfig) -> ServiceConfig:
    """Cloud Run never reuses a revision name and bumps the etag on every write; the rest must match."""
    return replace(config, etag="", latest_revision="")


async def run_all(cloud: Cloud, action: Action) -> tuple[dict[str, JSON], list[Outcome]]:
    """What the executor does: snapshot every target first, then apply target by target."""
    snapshots = {t.key: await action.snapshot(t) for t in action.targets()}
    outcomes = [await action.apply(t, snapshots[t.key], cloud.note) for t in action.targets()]
    return snapshots, outcomes


async def revert_all(cloud: Cloud, action: Action, snapshots: dict[str, JSON]) -> list[Outcome]:
    return [await action.revert(t, snapshots[t.key], cloud.note) for t in reversed(action.targets())]


@pytest.fixture(params=["google", "sim"])
async def cloud(request: pytest.FixtureRequest) -> AsyncIterator[Cloud]:
    runbook = make_runbook()
    clock = JumpClock(datetime(2026, 4, 21, 14, 0, tzinfo=UTC))  # 09:00 in Chicago
    world = World.seeded(runbook, now=clock.now)
    settings = MemorySettings()
    unused: Any = None  # http, sql and checker belong to other kinds; these never touch them
    if request.param == "sim":
        deps = ActionDeps(SimCloudRun(world, clock), SimCloudSql(world, clock), unused, unused, unused, clock, settings)
        yield Cloud("sim", world, clock, deps, runbook)
        return
    run_facade, sql_facade = CloudRunFacade(world), CloudSqlFacade(world)
    channel = grpc.aio.insecure_channel(await run_facade.start())
    client = run_v2.ServicesAsyncClient(transport=ServicesGrpcAsyncIOTransport(channel=channel))
    instances, operations = rest_clients(await sql_facade.start())
    deps = ActionDeps(
        GoogleCloudRun(client, clock),
        GoogleCloudSql(instances, operations, clock),
        unused,
        unused,
        unused,
        clock,
        settings,
    )
    try:
        yield Cloud("google", world, clock, deps, runbook, run_facade, sql_facade)
    finally:
        await channel.close()
        await run_facade.stop()
        await sql_facade.stop()
