"""The one place that wires real dependencies: settings in, a running bot's parts out.

Each dependency is chosen here (sim or Google, SQLite or PostgreSQL, real or virtual clock)
and passed inward; nothing below this file reads the environment. Tests call ``build``
with their own clock, settings and fault plan.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from bot.actions.base import ActionDeps
from bot.actions.registry import ActionRegistry, default_registry
from bot.cloud.http_probe import HttpProber, LoadLimits
from bot.cloud.ports import CloudRunApi, CloudSqlApi
from bot.cloud.sql_target import SqlTargets
from bot.config import Settings
from bot.engine.clock import SystemClock
from bot.engine.errors import Refused, StoreUnavailable
from bot.engine.evaluator import MetricsChecker
from bot.engine.permissions import Policy, demo_policy
from bot.engine.ports import BOT_ACTOR, AlertRecord, Clock, Event, MetricsSource
from bot.engine.rollout import Rollout
from bot.engine.watch import Watcher
from bot.runbook.loader import load_runbook
from bot.runbook.models import Runbook
from bot.sim.faults import FaultPlan
from bot.sim.world import World
from bot.sim.world_state import WorldState
from bot.store.health import StoreHealth
from bot.store.repository import SoleWriterStore, SqlStore
from bot.store.schema import ensure_schema

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

    async def notify(self, event: Event) -> None:
        for listener in list(self._listeners):
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


@dataclass
class Bot:
    """Everything a transport (Slack, console, simulate) needs, built once."""

    settings: Settings
    runbook: Runbook
    clock: Clock
    store: SqlStore
    policy: Policy
    events: EventBus
    registry: ActionRegistry
    deps: ActionDeps
    metrics: MetricsSource
    checker: MetricsChecker
    rollout: Rollout
    watcher: Watcher
    sim: SimParts | None = None
    health: StoreHealth | None = None  # whether the store takes writes now (bot/store/health.py)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    nudges: Any = None  # deadline reminders and escalations (bot/engine/nudges.py), set by bot/oncall/wiring.py
    handover: Any = None  # the overnight handover (bot/engine/handover.py), set by bot/oncall/wiring.py

    async def close(self) -> None:
        await self._stack.aclose()

    async def latest_production_step(self, run_id: str) -> str | None:
        for execution in reversed(await self.store.executions(run_id)):
            if execution.kind == "apply" and self.rollout.ctx.is_production(execution.environment):
                return execution.step_id
        return None

    async def watch_once(self) -> None:
        """One watcher cycle over every open run (the scheduler calls this every watch_interval)."""
        for run in await self.store.open_runs():
            await self.watcher.poll(run.id, run.channel, await self.latest_production_step(run.id))
            if self.nudges is not None:
                await self.nudges.pass_once(run)
            if self.handover is not None:
                await self.handover.pass_once(run)


async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    runbook: Runbook | None = None,
    faults: list[str] | None = None,
    run_start: date | None = None,
    throwaway_store: bool = False,
) -> Bot:
    """Wire the bot for ``settings``; the caller owns the result and must ``close()`` it.

    ``throwaway_store``: the database is a temporary SQLite file only this process uses and
    deletes (simulate, the virtual console), so its reads may be cached (``SoleWriterStore``).
    """
    clock = clock or SystemClock()
    runbook = runbook or load_runbook(settings.runbook)
    stack = AsyncExitStack()
    try:
        await ensure_schema(settings.database_url)
        if throwaway_store:
            store: SqlStore = SoleWriterStore.open_throwaway(settings.database_url, clock=clock)
        else:
            store = SqlStore.open(settings.database_url, clock=clock)
        stack.push_async_callback(store.close)
        events = EventBus()
        sim: SimParts | None = None
        if settings.cloud == "sim":
            sim, cloud_run, cloud_sql, http, sql, metrics = await _sim_parts(
                settings, runbook, clock, stack, faults or [], run_start
            )
        else:
            cloud_run, cloud_sql, http, sql, metrics = _google_parts(settings, clock)
            stack.push_async_callback(http.close)
            stack.push_async_callback(sql.dispose)
        incidents = OpenIncidents(store)
        checker = MetricsChecker(metrics, runbook, incidents)
        deps = ActionDeps(
            cloud_run=cloud_run,
            cloud_sql=cloud_sql,
            http=http,
            sql=sql,
            checker=checker,
            clock=clock,
            settings=store,
        )
        registry = default_registry(deps)
        policy = Policy.build(settings.roles, settings.permissions or None) if settings.roles else demo_policy()
        rollout = Rollout(
            runbook, store, registry, checker, events, clock, policy, dry_run=settings.dry_run, alert_history=store
        )

        async def auto_rollback(alert: AlertRecord) -> str:
            run = await store.get_run(alert.run_id)
            if run is None:
                return "the run of this alert no longer exists; nothing was rolled back"
            target = alert.step_id or "last"
            try:
                result = await rollout.confirm_rollback(run.channel, target, BOT_ACTOR)
            except Refused as refused:
                return f"automatic rollback of {target} did not run: {refused.message}"
            return result.message

        watcher = Watcher(runbook, metrics, store, events, clock, auto_rollback, incidents)
        if sim is not None:
            events.subscribe(_faults_follow_production(sim, store, rollout, clock))
        return Bot(
            settings,
            runbook,
            clock,
            store,
            policy,
            events,
            registry,
            deps,
            metrics,
            checker,
            rollout,
            watcher,
            sim,
            StoreHealth(store, clock, url=settings.database_url),
            stack,
        )
    except BaseException:
        await stack.aclose()
        raise


def _faults_follow_production(sim: SimParts, store: SqlStore, rollout: Rollout, clock: Clock) -> Listener:
    """Faults written "after day2.1" start when day2.1's production lane finishes applying."""

    async def on_event(event: Event) -> None:
        if event.kind in ("execution_finished", "rollback_finished"):
            sim.state.mark_stale()
        if event.kind != "execution_finished" or not event.data.get("ok") or event.step_id is None:
            return
        execution = await store.get_execution(str(event.data.get("execution_id")))
        if execution is None or execution.kind != "apply" or not rollout.ctx.is_production(execution.environment):
            return
        sim.faults.note_step_done(event.step_id, clock.now())

    return on_event


async def _sim_parts(
    settings: Settings,
    runbook: Runbook,
    clock: Clock,
    stack: AsyncExitStack,
    faults: list[str],
    run_start: date | None,
) -> tuple[SimParts, CloudRunApi, CloudSqlApi, HttpProber, SqlTargets, MetricsSource]:
    from bot.sim.app_db import AppDbSize, copy_app_db, create_app_db
    from bot.sim.http_app import SimHttpApp
    from bot.sim.metrics import SyntheticMetrics
    from bot.sim.sim_cloud import SimCloudRun, SimCloudSql
    from bot.sim.world_state import WorldMetrics

    world = World.seeded(runbook, now=clock.now)
    workdir = Path(tempfile.mkdtemp(prefix="ionbot-sim-"))
    stack.callback(shutil.rmtree, workdir, True)
    app_dbs: dict[str, AsyncEngine] = {}
    seeded: tuple[AsyncEngine, Path] | None = None
    for env in runbook.environments:
        if env.database and env.database not in app_dbs:
            path = workdir / f"{env.database}.db"
            if seeded is None:
                # The slow-query log is relative to the database's own clock ("now" in SQL), not the sim's.
                engine = await create_app_db(path, size=AppDbSize(), now=datetime.now(UTC))
                seeded = (engine, path)
            else:  # the same seed gives the same rows: a copy of the first is exact, and seconds cheaper
                engine = await copy_app_db(*seeded, path)
            stack.push_async_callback(engine.dispose)
            app_dbs[env.database] = engine
    state = WorldState(world, runbook, app_dbs)
    plan = FaultPlan(faults, run_start=run_start, calendar=runbook.calendar)
    synthetic = SyntheticMetrics(state, plan)
    metrics = WorldMetrics(synthetic, state)

    p95 = runbook.metric("p95_latency_ms")
    production = next((e for e in runbook.environments if e.production), runbook.environments[0])

    def current_p95() -> float:
        return synthetic.value_at(p95, production, clock.now()) if p95 else 36.4

    app = SimHttpApp(p95_ms=current_p95, time_scale=0.0)
    host, port = await app.start(own_thread=True)
    stack.push_async_callback(app.stop)
    host_map = {}
    for env in runbook.environments:
        hosts = set(env.allowed_hosts)
        if env.base_url:
            from urllib.parse import urlsplit

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
    sql = SqlTargets(engines=app_dbs)
    parts = SimParts(world, plan, state, synthetic, app, dict(app_dbs))
    return parts, SimCloudRun(world, clock), SimCloudSql(world, clock), http, sql, metrics


def _google_parts(
    settings: Settings, clock: Clock
) -> tuple[CloudRunApi, CloudSqlApi, HttpProber, SqlTargets, MetricsSource]:
    # Imported here so the embedded default never loads the Google client libraries.
    from bot.cloud.cloud_run import GoogleCloudRun
    from bot.cloud.cloud_sql import GoogleCloudSql
    from bot.cloud.monitoring import CloudMonitoringSource

    return (
        GoogleCloudRun(clock=clock),
        GoogleCloudSql(clock=clock),
        HttpProber(),
        SqlTargets(settings.sql_targets),
        CloudMonitoringSource(),
    )
