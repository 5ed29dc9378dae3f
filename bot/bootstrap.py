"""The one composition root: settings in, a running bot's parts out, and for each adapter the
narrow bundle it needs (``slack_deps`` for the Slack app, ``served_builder`` for ``ionbot serve``,
``bootstrap_console.ConsoleSession`` for the console and simulate).

Each dependency is chosen here (sim or Google, SQLite or PostgreSQL, real or virtual clock)
and passed inward as a parameter with a production default, so tests pass their own (a clock,
settings, a fault plan, a Web API client); nothing below this file reads the environment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import structlog

from bot.actions.base import ActionDeps
from bot.actions.registry import ActionRegistry, default_registry
from bot.bootstrap_cloud import (
    CloudParts,
    EventBus,
    OpenIncidents,
    SimParts,
    faults_follow_production,
    google_parts,
    sim_parts,
)
from bot.bootstrap_oncall import connect_oncall, oncall_parts
from bot.config import Settings
from bot.engine.clock import SystemClock
from bot.engine.duties import Duties
from bot.engine.errors import Refused
from bot.engine.evaluator import MetricsChecker
from bot.engine.permissions import Policy, demo_policy
from bot.engine.ports import BOT_ACTOR, AlertRecord, Clock, MetricsSource
from bot.engine.rollout import Rollout
from bot.engine.watch import Watcher
from bot.runbook.loader import load_runbook
from bot.runbook.models import Runbook
from bot.store.health import StoreHealth
from bot.store.repository import SoleWriterStore, SqlStore
from bot.store.schema import ensure_schema

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.engine.timeline import Timelines
    from bot.engine.timeline_pages import StepPages
    from bot.serve_runtime import DeferredRuntime
    from bot.slack.app import IonApp
    from bot.slack.delivery.outbox import Outbox
    from bot.slack.deps import ReportsPort, SlackDeps
    from bot.web.routes import WebDeps

__all__ = ["Bot", "EventBus", "OpenIncidents", "SimParts", "build", "slack_app", "slack_deps"]

log = structlog.get_logger(__name__)


@dataclass
class Bot:
    """Every part of the wired bot, built once. The scheduler and the reports take it whole; the
    Slack and console adapters never see it: they get a narrow bundle (``slack_deps``)."""

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
    duties: Duties  # deadline notices and the handover, served by the Slack app's on-call parts
    sim: SimParts | None = None
    health: StoreHealth | None = None  # whether the store takes writes now (bot/store/health.py)
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def close(self) -> None:
        await self._stack.aclose()

    async def latest_production_step(self, run_id: str) -> str | None:
        return await self.rollout.latest_production_step(run_id)

    async def watch_once(self) -> None:
        """One watcher cycle over every open run (the scheduler calls this every watch_interval)."""
        for run in await self.store.open_runs():
            await self.watcher.poll(run.id, run.channel, await self.latest_production_step(run.id))
            await self.duties.pass_once(run)


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
        sim: SimParts | None = None
        if settings.cloud == "sim":
            sim, cloud = await sim_parts(settings, runbook, clock, stack, faults or [], run_start)
        else:
            cloud = google_parts(settings, clock, stack)
        return _wire(settings, runbook, clock, store, cloud, sim, stack)
    except BaseException:
        await stack.aclose()
        raise


def _wire(
    settings: Settings,
    runbook: Runbook,
    clock: Clock,
    store: SqlStore,
    cloud: CloudParts,
    sim: SimParts | None,
    stack: AsyncExitStack,
) -> Bot:
    """The engine over the store and the cloud: the action registry, the use cases, the watcher."""
    events = EventBus()
    incidents = OpenIncidents(store)
    checker = MetricsChecker(cloud.metrics, runbook, incidents)
    deps = ActionDeps(
        cloud_run=cloud.cloud_run,
        cloud_sql=cloud.cloud_sql,
        http=cloud.http,
        sql=cloud.sql,
        checker=checker,
        clock=clock,
        settings=store,
    )
    registry = default_registry(deps)
    policy = Policy.build(settings.roles, settings.permissions or None) if settings.roles else demo_policy()
    rollout = Rollout(
        runbook, store, registry, checker, events, clock, policy, dry_run=settings.dry_run, alert_history=store
    )
    watcher = Watcher(runbook, cloud.metrics, store, events, clock, _auto_rollback(store, rollout), incidents)
    if sim is not None:
        events.subscribe(faults_follow_production(sim, store, rollout, clock))
    health = StoreHealth(store, clock, url=settings.database_url)
    return Bot(
        settings,
        runbook,
        clock,
        store,
        policy,
        events,
        registry,
        deps,
        cloud.metrics,
        checker,
        rollout,
        watcher,
        Duties(store, clock),
        sim,
        health,
        stack,
    )


def _auto_rollback(store: SqlStore, rollout: Rollout) -> Callable[[AlertRecord], Awaitable[str]]:
    """What the watcher does when a trigger asks for a rollback and nobody pressed Hold."""

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

    return auto_rollback


AppT = TypeVar("AppT", bound="AsyncApp")


# --- the Slack adapter's bundle --------------------------------------------------------------


def outbox_for(bot: Bot, client: AsyncWebClient) -> Outbox:
    """Every Slack call the bot makes, stored first (bot/slack/delivery/outbox.py), on ``client``."""
    from bot.slack.delivery.outbox import Outbox

    return Outbox(bot.store, client, bot.clock)


def slack_deps(bot: Bot, outbox: Outbox, reports: ReportsPort | None = None) -> SlackDeps:
    """The Slack app's narrow bundle over ``bot``: use cases, the ports it reads, its settings, and
    on-call's parts over the same outbox (bot/bootstrap_oncall.py), whose duties the bot's watch runs."""
    from bot.slack.deps import SlackDeps

    oncall = oncall_parts(bot, outbox)
    return SlackDeps(
        rollout=bot.rollout,
        watcher=bot.watcher,
        runbook=bot.runbook,
        clock=bot.clock,
        outbox=outbox,
        cards=bot.store,
        alerts=bot.store,
        deliveries=bot.store,
        metrics=bot.metrics,
        events=bot.events,
        reports=reports,
        health=bot.health,
        dry_run=bot.settings.dry_run,
        oncall_group=bot.settings.oncall_group,
        timeline_url=lambda: bot.settings.timeline_url,
        delegations=oncall.delegations,
        handover=oncall.handover,
    )


def slack_app(
    bot: Bot,
    client: AsyncWebClient,
    *,
    signing_secret: str | None,
    process_before_response: bool = False,
    reports: ReportsPort | None = None,
    **options: Any,
) -> IonApp:
    """The Bolt app over ``bot`` (tests and benchmarks; serve and the console wire reports too)."""
    from bot.slack import app as slack

    deps = slack_deps(bot, outbox_for(bot, client), reports)
    app = slack.build_app(
        deps, signing_secret=signing_secret, process_before_response=process_before_response, **options
    )
    return finish_app(bot, app)


def finish_app(bot: Bot, app: AppT) -> AppT:
    """What every Slack app over ``bot`` gets once built: its deadline notices said in its cards' threads."""
    from bot.slack.app import IonApp

    if isinstance(app, IonApp):  # a test's own app factory may build something else
        connect_oncall(bot, app.state)
    return app


# --- `ionbot serve` ----------------------------------------------------------------------------

BotBuilder = Callable[[Settings], Awaitable[Bot]]


@dataclass
class ServedBot:
    """What ``bot.slack.server.serve`` runs (its ``Served`` protocol): the app, the outbox, the
    scheduled jobs and the bot its loops read, closed in the reverse order of building."""

    host: Bot
    app: IonApp
    outbox: Outbox
    runtime: DeferredRuntime  # the scheduled jobs and the reports, built after the first answers
    http: aiohttp.ClientSession | None = None  # the Web API client's connections, closed last

    @property
    def web(self) -> WebDeps:
        """The read-only web timeline's use cases and its sign-in gate (bot/web), built when serve
        opens the pages, after the first answers: nothing of them is imported before."""
        return web_deps(self.host)

    @property
    def envelopes(self) -> SqlStore:
        return self.host.store

    @property
    def owner(self) -> str:
        return self.host.rollout.owner

    async def start(self) -> None:
        await self.runtime.start()

    async def jobs_ready(self) -> bool:
        return bool(await self.runtime.ready())

    async def close(self) -> None:
        try:
            await self.runtime.stop()
        finally:
            try:
                await self.host.close()
            finally:
                if self.http is not None:
                    await self.http.close()


def served_builder(build_bot: BotBuilder | None = None) -> Callable[[Settings, Runbook | None, bool], Awaitable[Any]]:
    """``serve``'s builder: the bot (``build_bot``, else ``build`` on the checked runbook), its
    Slack app with the reports wired in, and the Runtime, all on one outbox."""

    async def build_served(settings: Settings, runbook: Runbook | None, socket_mode: bool) -> ServedBot:
        bot = await _bot_for_serve(settings, build_bot, runbook)
        http = aiohttp.ClientSession()
        try:
            return _serve_parts(settings, bot, socket_mode, http)
        except BaseException:
            await http.close()
            await bot.close()
            raise

    return build_served


def _serve_parts(settings: Settings, bot: Bot, socket_mode: bool, http: aiohttp.ClientSession) -> ServedBot:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.serve_runtime import deferred_runtime
    from bot.slack import app as slack

    # One HTTP session for every Web API call: without it slack_sdk opens (and closes) a session, a
    # TCP connection and a TLS handshake per call, which every answer and card update would wait on.
    base_url = settings.slack_api_url or AsyncWebClient.BASE_URL
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=base_url, session=http)
    outbox = outbox_for(bot, client)
    runtime = deferred_runtime(settings, bot, outbox, client)  # built at its first use, subscribed here
    deps = slack_deps(bot, outbox, runtime.reports)
    app = slack.build_app(deps, signing_secret=None if socket_mode else settings.slack_signing_secret)
    return ServedBot(bot, finish_app(bot, app), outbox, runtime, http)


async def _bot_for_serve(settings: Settings, build_bot: BotBuilder | None, runbook: Runbook | None) -> Bot:
    """The bot, on the runbook the start-up checks loaded; an embedded store is recorded as holding
    the bot's state (bot/store/embedded.py), so losing it later is noticed at the next start."""
    from bot.serve_checks import StartupProblems
    from bot.store.embedded import remember
    from bot.store.health import sqlite_file
    from bot.store.outage import is_outage, reason

    try:
        bot = await build_bot(settings) if build_bot is not None else await build(settings, runbook=runbook)
    except Exception as error:
        if not is_outage(error):
            raise
        failed = f"ION_DATABASE_URL: the database failed while the bot was starting ({reason(error)})"
        raise StartupProblems([failed]) from None
    path = sqlite_file(settings.database_url)
    warning = remember(path) if path is not None else None
    if warning:
        log.warning(warning)
    return bot


def timeline_use_cases(bot: Bot) -> tuple[Timelines, StepPages]:
    """The web timeline's read-side use cases over this bot's store, metrics and policy (bot/web)."""
    from bot.engine.timeline import Timelines
    from bot.engine.timeline_pages import StepPages

    timelines = Timelines(bot.runbook, bot.store, bot.metrics, bot.clock, bot.policy)
    return timelines, StepPages(timelines, bot.registry)


def web_deps(bot: Bot, *, local: bool = False) -> WebDeps:
    """What the timeline pages need: the use cases, and the gate (the console's open local one, or
    the settings' Slack sign-in or IAP; bot/web/setup.py)."""
    from bot.web.access import OpenLocal
    from bot.web.routes import WebDeps
    from bot.web.setup import web_gate

    timelines, pages = timeline_use_cases(bot)
    gate = OpenLocal() if local else web_gate(bot.settings, bot.policy, bot.clock)
    return WebDeps(timelines, pages, gate)
