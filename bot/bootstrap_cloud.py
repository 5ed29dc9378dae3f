"""The outside world's half of the composition root: the event bus, and the cloud the bot acts
on, either the embedded sim (the demo, simulate, the tests) or Google's clients (production).

Only bot/bootstrap.py uses this module; it is apart so that each file keeps one job.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from bot.cloud.http_probe import HttpProber, LoadLimits
from bot.cloud.ports import CloudRunApi, CloudSqlApi
from bot.cloud.sql_target import SqlTargets
from bot.config import Settings
from bot.engine.errors import StoreUnavailable
from bot.engine.ports import Clock, Event, MetricsSource
from bot.engine.rollout import Rollout
from bot.runbook.models import Runbook
from bot.sim.faults import FaultPlan
from bot.sim.world import World
from bot.sim.world_state import WorldState
from bot.store.repository import SqlStore

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

Listener = Callable[[Event], Awaitable[None]]


class EventBus:
    """The engine's Notifier: fans events out to the chat layer (and anything else listening)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @contextmanager
    def in_place_of(self, placeholder: Listener) -> Iterator[list[Listener]]:
        """Whatever subscribes inside the block takes ``placeholder``'s place in the order, and the
        list yielded holds it once the block ends: a part built later (serve's reports,
        bot/serve_runtime.py) hears each event when it would have had it been built at once."""
        before = len(self._listeners)
        added: list[Listener] = []
        try:
            yield added
        finally:
            added += self._listeners[before:]
            del self._listeners[before:]
            at = self._listeners.index(placeholder) if placeholder in self._listeners else len(self._listeners)
            self._listeners[at : at + 1] = added

    async def notify(self, event: Event) -> None:
        for listener in list(self._listeners):
            await self.deliver(listener, event)

    async def deliver(self, listener: Listener, event: Event) -> None:
        """``event`` to one listener; whatever it raises is logged, never passed to the others."""
        try:
            await listener(event)
        except StoreUnavailable:  # the store's health watch says so, once; no traceback per event
            log.warning("event not passed on: the state store is out", kind=event.kind, run=event.run_id)
        except Exception:  # one broken listener must not stop the rollout
            log.exception("event listener failed", kind=event.kind, run=event.run_id)


class OpenIncidents:
    """Counts open incident alerts: the seed's fifth trigger, "any production incident"."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    async def opened_times(self, run_id: str | None) -> list[datetime]:
        runs = [run_id] if run_id else [r.id for r in await self._store.open_runs()]
        return [a.opened_at for rid in runs for a in await self._store.active_alerts(rid) if a.kind == "incident"]

    async def count_open(self, run_id: str | None, at: datetime) -> int:
        return sum(1 for opened in await self.opened_times(run_id) if opened <= at)


@dataclass
class SimParts:
    """The embedded world, kept so the console, simulate and tests can look inside or inject faults."""

    world: World
    faults: FaultPlan
    state: WorldState
    metrics: object
    http_app: object
    app_dbs: dict[str, object]


@dataclass(frozen=True)
class CloudParts:
    """What the actions and the checks act on and read: sim or Google, the same five ports."""

    cloud_run: CloudRunApi
    cloud_sql: CloudSqlApi
    http: HttpProber
    sql: SqlTargets
    metrics: MetricsSource


def faults_follow_production(sim: SimParts, store: SqlStore, rollout: Rollout, clock: Clock) -> Listener:
    """Faults written "after day2.1" start when day2.1's production lane finishes applying."""

    async def on_event(event: Event) -> None:
        if event.kind in ("execution_finished", "rollback_finished"):
            sim.state.mark_stale()
        if event.kind != "execution_finished" or not event.data.get("ok") or event.step_id is None:
            return
        execution = await store.get_execution(str(event.data.get("execution_id")))
        if execution is None or execution.kind != "apply" or not rollout.is_production(execution.environment):
            return
        sim.faults.note_step_done(event.step_id, clock.now())

    return on_event


async def sim_parts(
    settings: Settings,
    runbook: Runbook,
    clock: Clock,
    stack: AsyncExitStack,
    faults: list[str],
    run_start: date | None,
) -> tuple[SimParts, CloudParts]:
    """The embedded world: Cloud Run and Cloud SQL in memory, seeded app databases, synthetic
    metrics with the asked faults, and an HTTP app the probes reach on 127.0.0.1."""
    from bot.sim.history import sim_history
    from bot.sim.metrics import SyntheticMetrics
    from bot.sim.sim_cloud import SimCloudRun, SimCloudSql
    from bot.sim.world_state import WorldMetrics

    world = World.seeded(runbook, now=clock.now)
    app_dbs = await _app_dbs(runbook, stack)
    state = WorldState(world, runbook, app_dbs)
    plan = FaultPlan(faults, run_start=run_start, calendar=runbook.calendar)
    synthetic = SyntheticMetrics(state, plan)
    # Windows before now (a gate's 24 hours, a backtest's weeks) come from the sim's history.
    metrics = sim_history(WorldMetrics(synthetic, state), state, runbook, clock.now(), asked=plan)
    app, http = await _http_world(settings, runbook, clock, stack, synthetic)
    sql = SqlTargets(engines=app_dbs)
    parts = SimParts(world, plan, state, synthetic, app, dict(app_dbs))
    return parts, CloudParts(SimCloudRun(world, clock), SimCloudSql(world, clock), http, sql, metrics)


async def _app_dbs(runbook: Runbook, stack: AsyncExitStack) -> dict[str, AsyncEngine]:
    """One seeded SQLite app database per database the environments name, in a folder removed at close.

    Seeding their 60,000 rows costs a second of CPU that no answer to Slack needs, so it starts at
    the first connection to any of them (an action or a metric read, never an ack) and that
    connection waits for it: a starting bot answers at once, and nothing reads a half-seeded database."""
    from sqlalchemy.ext.asyncio import create_async_engine

    workdir = Path(tempfile.mkdtemp(prefix="ionbot-sim-"))
    stack.callback(shutil.rmtree, workdir, True)
    names = list(dict.fromkeys(env.database for env in runbook.environments if env.database))
    seeding = SeededOnFirstUse([workdir / f"{name}.db" for name in names])
    stack.push_async_callback(seeding.stop)
    app_dbs: dict[str, AsyncEngine] = {}
    for name, path in zip(names, seeding.paths, strict=True):
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}", async_creator=seeding.connect_to(path))
        stack.push_async_callback(engine.dispose)
        app_dbs[name] = engine
    return app_dbs


class SeededOnFirstUse:
    """The sim's application database files, seeded once, when a connection to any of them is first
    made: the first file seeded, the others copied from it (the same seed gives the same rows)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self._seeding: asyncio.Task[None] | None = None

    def connect_to(self, path: Path) -> Callable[[], Awaitable[Any]]:
        """aiosqlite's connect to ``path``, once every file is seeded (its error, if seeding failed)."""

        async def connect() -> Any:
            import aiosqlite

            await asyncio.shield(self._started())  # one waiting connection given up must not stop the seeding
            return await aiosqlite.connect(path)

        return connect

    def _started(self) -> asyncio.Task[None]:
        if self._seeding is None:
            self._seeding = asyncio.get_running_loop().create_task(self._seed(), name="sim app databases")
        return self._seeding

    async def _seed(self) -> None:
        from bot.sim.app_db import AppDbSize, copy_app_db, create_app_db

        # The slow-query log is relative to the database's own clock ("now" in SQL), not the sim's.
        seeded = await create_app_db(self.paths[0], size=AppDbSize(), now=datetime.now(UTC))
        try:
            for path in self.paths[1:]:
                await (await copy_app_db(seeded, self.paths[0], path)).dispose()
        finally:
            await seeded.dispose()

    async def stop(self) -> None:
        """Cancel a seeding still running (the bot is closing and its folder goes next)."""
        if self._seeding is None:
            return
        self._seeding.cancel()
        try:
            await self._seeding
        except asyncio.CancelledError:
            pass
        except Exception:  # closing goes on; whoever connected was already told
            log.warning("the sim's application databases could not be seeded", exc_info=True)


async def _http_world(
    settings: Settings, runbook: Runbook, clock: Clock, stack: AsyncExitStack, synthetic: Any
) -> tuple[object, HttpProber]:
    """The sim's HTTP app on 127.0.0.1, and a prober that sends every environment's hosts to it."""
    from urllib.parse import urlsplit

    from bot.sim.http_app import SimHttpApp

    p95 = runbook.metric("p95_latency_ms")
    production = next((e for e in runbook.environments if e.production), runbook.environments[0])

    def current_p95() -> float:
        return float(synthetic.value_at(p95, production, clock.now())) if p95 else 36.4

    app = SimHttpApp(p95_ms=current_p95, time_scale=0.0)
    host, port = await app.start(own_thread=True)
    stack.push_async_callback(app.stop)
    host_map = {}
    for env in runbook.environments:
        hosts = set(env.allowed_hosts)
        if env.base_url:
            hosts.add(urlsplit(env.base_url).hostname or "")
        for name in hosts - {""}:
            host_map[name] = (host, port)
    limits = LoadLimits(
        max_requests=settings.sim_http_max_requests,
        max_duration=timedelta(seconds=30),
        max_concurrency=20,
        max_rate_rps=2000,
    )
    http = HttpProber(host_map=host_map, loopback_only=True, limits=limits, trust_server_timing=True)
    stack.push_async_callback(http.close)
    return app, http


def google_parts(settings: Settings, clock: Clock, stack: AsyncExitStack) -> CloudParts:
    # Imported here so the embedded default never loads the Google client libraries.
    from bot.cloud.cloud_run import GoogleCloudRun
    from bot.cloud.cloud_sql import GoogleCloudSql
    from bot.cloud.monitoring import CloudMonitoringSource

    http, sql = HttpProber(), SqlTargets(settings.sql_targets)
    stack.push_async_callback(http.close)
    stack.push_async_callback(sql.dispose)
    return CloudParts(GoogleCloudRun(clock=clock), GoogleCloudSql(clock=clock), http, sql, CloudMonitoringSource())
