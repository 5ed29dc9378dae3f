"""Fixtures for the probe, query, gate, wait and manual kinds: a virtual clock, the sim HTTP app,
a seeded application database (SQLite always, PostgreSQL when ION_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.actions.base import ActionDeps, Binding
from bot.cloud.http_probe import HttpProber, LoadLimits
from bot.cloud.sql_target import SqlTargets
from bot.engine.ports import CheckResult
from bot.runbook.models import Environment, Runbook
from bot.sim.app_db import AppDbSize, seed_app_db
from bot.sim.http_app import SimHttpApp

API_HOST = "api.ion-mentoring.dev"
STAGING_HOST = "staging.ion-mentoring.dev"
SMALL_DB = AppDbSize(personas=3000, users=200, preferences=1500, sessions=1500, slow_queries=120)


class VirtualClock:
    """Time that moves only when something sleeps on it; records every sleep."""

    def __init__(self, start: datetime = datetime(2026, 4, 21, 14, 0, tzinfo=UTC)) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


class ScriptedChecker:
    """A ConditionChecker that answers from a table keyed by condition text and records each call."""

    def __init__(self, answers: dict[str, CheckResult]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, datetime]] = []

    async def check(self, condition: Any, environment: Environment, now: datetime) -> CheckResult:
        self.calls.append((condition.text, environment.name, now))
        return self.answers[condition.text]


class NotUsedHere:
    """Stands in for the adapters these kinds never touch (Cloud Run, Cloud SQL admin, settings)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the probe kinds must not call {name}")


@dataclass
class Progress:
    """Collects progress lines the way the executor's callback would receive them."""

    lines: list[str] = field(default_factory=list)

    async def __call__(self, line: str) -> None:
        self.lines.append(line)


def make_runbook(**production: Any) -> Runbook:
    prod = {
        "name": "production",
        "project": "ion-mentoring",
        "production": True,
        "base_url": f"https://{API_HOST}",
        "allowed_hosts": [API_HOST],
        "database": "ion-primary-db",
        **production,
    }
    staging = {
        "name": "staging",
        "project": "ion-mentoring-staging",
        "base_url": f"https://{STAGING_HOST}",
        "allowed_hosts": [STAGING_HOST],
        "database": "ion-staging-db",
    }
    return Runbook.model_validate(
        {
            "id": "probes",
            "title": "Probe kinds under test",
            "calendar": {"working_days": 10},
            "environments": [prod, staging],
            "schedule": {"daily_report_at": "17:00"},
        }
    )


def binding(env: str = "staging", **production: Any) -> Binding:
    runbook = make_runbook(**production)
    environment = runbook.environment(env)
    assert environment is not None
    return Binding(runbook=runbook, environment=environment)


def make_deps(
    *,
    http: HttpProber | None = None,
    sql: SqlTargets | None = None,
    checker: Any = None,
    clock: VirtualClock | None = None,
) -> ActionDeps:
    unused: Any = NotUsedHere()
    return ActionDeps(
        cloud_run=unused,
        cloud_sql=unused,
        http=http or HttpProber(loopback_only=True),
        sql=sql or SqlTargets(),
        checker=checker or unused,
        clock=clock or VirtualClock(),
        settings=unused,
    )


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def progress() -> Progress:
    return Progress()


@pytest.fixture
async def sim_app() -> AsyncIterator[tuple[SimHttpApp, tuple[str, int]]]:
    app = SimHttpApp(time_scale=0.0)
    address = await app.start()
    yield app, address
    await app.stop()


@pytest.fixture
async def prober(sim_app: tuple[SimHttpApp, tuple[str, int]]) -> AsyncIterator[HttpProber]:
    _, address = sim_app
    # The sim app's simulated latency, not this machine's loopback wall time (noisy on CI).
    prober = HttpProber(
        host_map={API_HOST: address, STAGING_HOST: address},
        loopback_only=True,
        limits=LoadLimits(max_requests=40),
        trust_server_timing=True,
    )
    yield prober
    await prober.close()


# --- application databases ------------------------------------------------------------------

POSTGRES_URL = os.environ.get("ION_TEST_POSTGRES_URL")
MYSQL_URL = os.environ.get("ION_TEST_MYSQL_URL")  # e.g. mysql+aiomysql://root@127.0.0.1:3306/test (MariaDB)
BACKENDS = ["sqlite", "postgresql", "mysql"]


async def _mysql_engine() -> AsyncIterator[AsyncEngine]:
    """A seeded application database of its own on the MySQL server (MariaDB), dropped afterwards."""
    if not MYSQL_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set ION_TEST_MYSQL_URL so the SQL kinds are tested on MySQL")
        pytest.skip("ION_TEST_MYSQL_URL is not set")
    name = f"probes_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(MYSQL_URL)
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine = create_async_engine(MYSQL_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        await seed_app_db(engine, size=SMALL_DB)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("ANALYZE TABLE personas, user_preferences, sessions")
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f"DROP DATABASE {name}")
        await admin.dispose()


@pytest.fixture(params=BACKENDS)
async def app_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A seeded application database; on PostgreSQL in its own schema, dropped afterwards."""
    if request.param == "sqlite":
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
        await seed_app_db(engine, size=SMALL_DB)
        yield engine
        await engine.dispose()
        return
    if request.param == "mysql":
        async for engine in _mysql_engine():
            yield engine
        return
    if not POSTGRES_URL:
        if os.environ.get("CI"):
            pytest.fail("CI must set ION_TEST_POSTGRES_URL so the SQL kinds are tested on PostgreSQL")
        pytest.skip("ION_TEST_POSTGRES_URL is not set")
    schema = f"probes_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(POSTGRES_URL)
    async with admin.begin() as conn:
        await conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = create_async_engine(POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        await seed_app_db(engine, size=SMALL_DB)
        async with engine.connect() as conn:
            await conn.exec_driver_sql("ANALYZE")
            await conn.commit()
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        await admin.dispose()


@pytest.fixture
def sql_targets(app_engine: AsyncEngine) -> SqlTargets:
    return SqlTargets(engines={"ion-staging-db": app_engine, "ion-primary-db": app_engine})
