"""`ionbot serve`: the Slack endpoint, health and readiness probes, and the background loops.

HTTP mode serves POST /slack/events through the edge (bot/slack/transport/edge.py: the signature is
checked on the raw bytes, 401 when it is wrong or older than five minutes; malformed bodies get a
4xx, never a 500). With SLACK_APP_TOKEN set, events arrive over Socket Mode instead
and the HTTP server keeps only the probes (Cloud Run still needs a port); an envelope Slack
delivers twice (same id), to this replica or another, is dispatched once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from aiohttp import web
from aiohttp.log import access_logger

from bot.config import Settings, require_for_serve
from bot.engine.errors import StoreUnavailable
from bot.heap import freeze_once_settled, import_all
from bot.serve_checks import StartupProblems, startup_problems
from bot.slack.transport.startup_gate import StartupGate
from bot.web.mount import WebView
from bot.web.serving import mount as mount_timeline

if TYPE_CHECKING:
    from bot.engine.ports import Clock
    from bot.engine.recovery import RecoveryPass
    from bot.runbook.models import Runbook
    from bot.slack.app import IonApp
    from bot.slack.delivery.outbox import Outbox
    from bot.slack.transport.socket_mode import EnvelopeLedger
    from bot.web.routes import WebDeps

log = structlog.get_logger(__name__)

ReadyCheck = Callable[[], Awaitable[bool]]
EVENTS_PATH = "/slack/events"
OUTBOX_INTERVAL_SECONDS = 30.0
# Imported while /healthz answers; not the Runtime's (the jobs, the reports): see bot/serve_runtime.py.
HEAVY_MODULES = ("bot.bootstrap", "bot.slack.app", "bot.serve_runtime")
EARLY_ANSWERS_SECONDS = 1.0  # the longest the jobs wait for the answers to requests that waited for the bot


class Startup:
    """What the probes and the Slack endpoint see while the bot is still being built behind them.

    The port is bound first so /healthz answers at once; /readyz says "starting" until ``open``
    hands over the app and its check. A signed Slack request that arrives meanwhile is held by
    the ``gate`` (bot/slack/transport/startup_gate.py) and answered once the bot is ready, never refused;
    once the bot stops (``open(None, ...)`` after it was open) /slack/events answers 503.
    """

    def __init__(self, gate: StartupGate | None = None) -> None:
        self.app: IonApp | None = None
        self.ready: ReadyCheck | None = None
        self.gate = gate
        self.stopping = False

    def open(self, app: IonApp | None, ready: ReadyCheck) -> None:
        self.stopping = self.stopping or (self.app is not None and app is None)
        self.app = app
        self.ready = ready
        if app is not None and self.gate is not None:
            self.gate.open(app)


def make_web_app(app: IonApp | None, ready: ReadyCheck) -> web.Application:
    """The aiohttp application: the Slack endpoint (when ``app`` is given) and the two probes."""
    startup = Startup()
    startup.open(app, ready)
    return make_startup_web_app(startup, events=app is not None)


def make_startup_web_app(startup: Startup, *, events: bool) -> web.Application:
    """The probes (and, with ``events``, the Slack endpoint), answering for whatever ``startup`` holds now."""
    web_app = web.Application()

    async def slack_events(request: web.Request) -> web.Response:
        app, gate = startup.app, startup.gate
        if app is not None:
            from bot.slack.transport.edge import SlackEdge

            return await SlackEdge(app).handle(request)
        if gate is None or startup.stopping:
            return web.json_response({"ok": False, "status": "starting"}, status=503)
        with gate.early():
            return await held_until_ready(startup, gate, request)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(request: web.Request) -> web.Response:
        ready = startup.ready
        if ready is None:
            return web.json_response({"ok": False, "status": "starting"}, status=503)
        try:
            is_ready = await ready()
        except Exception as exc:  # a failing check means "not ready", never a 500 with a traceback
            log.warning("readiness check failed", error=str(exc))
            is_ready = False
        return web.json_response({"ok": is_ready}, status=200 if is_ready else 503)

    if events:
        web_app.router.add_post(EVENTS_PATH, slack_events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/readyz", readyz)
    return web_app


async def held_until_ready(startup: Startup, gate: StartupGate, request: web.Request) -> web.Response:
    """A request that came before the bot was ready: refused if unsigned, else answered or held.

    Either way it goes through the same edge (bot/slack/transport/edge.py) as any other request."""
    from bot.slack.transport.edge import Held, SlackEdge, refused

    raw = await request.read()
    problem = gate.signature_problem(raw, request.headers)
    if problem is not None:
        return refused(401, problem)
    held = Held(raw, dict(request.headers), request.content_type, request.query_string)
    if await gate.wait_open() and startup.app is not None:
        return await SlackEdge(startup.app).handle_bytes(held)
    gate.hold(held)
    return web.Response(status=200)


async def start_site(
    web_app: web.Application, host: str, port: int, *, access_log: bool = False
) -> tuple[web.AppRunner, int]:
    """Bind and start; returns the runner (clean it up) and the port actually bound (port 0 picks one).

    aiohttp's access log is off unless asked for: rendered through the redacting JSON chain it
    was a third of every ack's time, and Cloud Run's request log records each request anyway.
    """
    runner = web.AppRunner(web_app, access_log=access_logger if access_log else None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    address = runner.addresses[0]
    return runner, int(address[1])


class Recovering(Protocol):
    """The use cases crash recovery needs (the engine's Rollout)."""

    @property
    def lease(self) -> timedelta: ...

    async def recovery_pass(self) -> RecoveryPass: ...


class RecoveryHost(Protocol):
    @property
    def rollout(self) -> Recovering: ...

    @property
    def clock(self) -> Clock: ...


class StoreProbe(Protocol):
    """The store's health watch (bot/store/health.py), as serve sees it."""

    async def probe(self) -> str | None: ...

    def on_recovered(self, callback: Callable[[], Awaitable[None]]) -> None: ...

    async def watch_forever(self) -> None: ...


class HealthHost(Protocol):
    @property
    def health(self) -> StoreProbe | None: ...


class ServeHost(RecoveryHost, HealthHost, Protocol):
    """The wired bot as serve's loops see it: recovery's use cases, the clock, the store's health."""


class Served(Protocol):
    """Everything ``serve`` runs, wired by the composition root (bot/bootstrap.py) behind the bound port."""

    @property
    def app(self) -> IonApp:
        """The Bolt app answering Slack."""
        ...

    @property
    def outbox(self) -> Outbox:
        """Delivered by a background pass too."""
        ...

    @property
    def host(self) -> ServeHost:
        """What recovery and readiness read."""
        ...

    @property
    def web(self) -> WebDeps:
        """What the read-only web timeline's pages read (bot/web)."""
        ...

    @property
    def envelopes(self) -> EnvelopeLedger:
        """Socket Mode envelopes, shared by the replicas."""
        ...

    @property
    def owner(self) -> str:
        """This replica's id on the envelopes it takes."""
        ...

    async def start(self) -> None:
        """The scheduled jobs (reports, standups, the trigger watch)."""
        ...

    async def jobs_ready(self) -> bool: ...

    async def close(self) -> None: ...


ServedBuilder = Callable[[Settings, "Runbook | None", bool], Awaitable[Served]]


def database_and_loops_ready(bot: HealthHost, loops: Sequence[asyncio.Task[Any]]) -> ReadyCheck:
    """Ready when the store takes a write (a write-and-rollback, and for SQLite its file is still there
    and writable: bot/store/health.py) and every background loop is still running."""

    async def check() -> bool:
        if bot.health is not None and await bot.health.probe() is not None:
            return False
        return all(not loop.done() for loop in loops)

    return check


def socket_connected(handler: Any) -> ReadyCheck:
    """Ready while the Socket Mode connection is up: while slack_sdk reconnects, no envelope arrives."""

    async def check() -> bool:
        return bool(await handler.client.is_connected())

    return check


def _all_ready(*checks: ReadyCheck) -> ReadyCheck:
    async def check() -> bool:
        for one in checks:
            if not await one():
                return False
        return True

    return check


async def recover_once(bot: RecoveryHost) -> None:
    """One crash-recovery pass: reconcile executions whose owner's lease ran out, say what it did."""
    found = await bot.rollout.recovery_pass()
    for recovered in found.recovered:
        log.warning(
            "reconciled an execution whose owner stopped",
            execution_id=recovered.execution.id,
            message=recovered.message,
        )
    if found.left_alone:
        log.info("left executions of live owners alone", executions=[e.id for e in found.left_alone])


async def recover_forever(bot: RecoveryHost) -> None:
    """Recovery every lease, so a replica that dies mid-step is reconciled by a survivor within two."""
    interval = bot.rollout.lease.total_seconds()
    while True:
        await bot.clock.sleep(interval)
        try:
            await recover_once(bot)
        except StoreUnavailable:  # the store's health watch has said so, once; the next pass tries again
            pass
        except Exception:  # the loop must outlive one bad pass
            log.exception("crash recovery pass failed")


async def serve(
    settings: Settings,
    *,
    build: ServedBuilder,
    ready: ReadyCheck | None = None,
    on_listening: Callable[[int], None] | None = None,
    new_store: bool = False,
) -> None:
    """Run until cancelled: the bot, its Slack app (HTTP or Socket Mode), the probes and the loops.

    ``build`` is the composition root's (bot/bootstrap.py ``served_builder``). The port is bound
    before anything heavy is imported or built, so the platform sees a live process at once;
    /readyz turns 200 only when the bot, recovery and the scheduled jobs are up. A failure while
    building closes the port and raises, so the process exits with its message. The jobs' claims
    make a second replica on the same database harmless.
    """
    require_for_serve(settings)
    socket_mode = bool(settings.slack_app_token)
    # Socket Mode needs no gate: the socket connects only once the bot is ready.
    startup = Startup(None if socket_mode else StartupGate(settings.slack_signing_secret))
    web_app = make_startup_web_app(startup, events=not socket_mode)
    timeline = mount_timeline(web_app, settings)  # the read-only web view (bot/web), opened once the bot is built
    runner, port = await start_site(web_app, settings.host, settings.port, access_log=settings.access_log)
    log.info("ionbot listening; building the bot", host=settings.host, port=port)
    if on_listening is not None:
        on_listening(port)
    try:
        await _serve_built(settings, startup, ready, build, socket_mode, new_store, timeline)
    finally:
        if startup.gate is not None:
            await startup.gate.close()
        await runner.cleanup()


async def _serve_built(
    settings: Settings,
    startup: Startup,
    ready: ReadyCheck | None,
    build: ServedBuilder,
    socket_mode: bool,
    new_store: bool = False,
    timeline: WebView | None = None,
) -> None:
    """Build everything behind the bound port, open the gate, and run until cancelled."""
    # Import the heavy modules in a worker thread: the loop keeps answering /healthz meanwhile.
    await asyncio.to_thread(import_all, HEAVY_MODULES)
    runbook, problems = await startup_problems(settings, new_store=new_store)
    if problems:
        raise StartupProblems(problems)
    served = await build(settings, runbook, socket_mode)
    loops: list[asyncio.Task[Any]] = []
    socket_handler: Any = None
    settle: asyncio.Task[None] | None = None
    try:
        await recover_once(served.host)
        loops.append(asyncio.create_task(served.outbox.run_forever(OUTBOX_INTERVAL_SECONDS)))
        loops.append(asyncio.create_task(recover_forever(served.host)))
        if served.host.health is not None:
            loops.append(watch_the_store(served.host, served.outbox))
        if socket_mode:  # connected before /readyz says 200: until then no envelope can arrive
            socket_handler = _socket_handler(served, str(settings.slack_app_token))
            await socket_handler.connect_async()  # kept above first: a cancelled connect is closed too
        checks = [database_and_loops_ready(served.host, loops), served.jobs_ready]
        if socket_handler is not None:  # a dropped socket (reconnecting) is not ready either
            checks.append(socket_connected(socket_handler))
        startup.open(None if socket_mode else served.app, ready or _all_ready(*checks))
        pages = None if timeline is None else partial(timeline.open_built, lambda: served.web)  # opened once settled
        settle = asyncio.create_task(freeze_once_settled(first=pages))  # what waited for the bot is answered first
        # The jobs (a report due late renders now), and the modules they import, start behind the first answers.
        if startup.gate is not None:
            await startup.gate.answered(lambda: served.app.state.tasks, within=EARLY_ANSWERS_SECONDS)
        await served.start()
        log.info("ionbot ready", mode="socket" if socket_mode else "http")
        await asyncio.Event().wait()
    finally:
        if settle is not None:
            settle.cancel()
        startup.open(None, _not_ready)
        if timeline is not None:
            timeline.open(None)
        if socket_handler is not None:  # first: no new envelope may start work while the rest stops
            from bot.slack.transport.socket_mode import close_socket_mode

            await close_socket_mode(socket_handler)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await served.close()


def _socket_handler(served: Served, app_token: str) -> Any:
    # Imported here, not before the port is bound: through the engine's ports it loads the runbook's models.
    from bot.slack.transport.socket_mode import SharedEnvelopes, socket_mode_handler

    envelopes = SharedEnvelopes(served.envelopes, served.host.clock, served.owner)
    return socket_mode_handler(served.app, app_token, envelopes)


async def _not_ready() -> bool:
    return False


def watch_the_store(bot: ServeHost, outbox: Outbox) -> asyncio.Task[None]:
    """The store's health watch (bot/store/health.py): it notices an outage's end by itself, and then
    reconciles what the outage interrupted and delivers what waited, without a restart."""
    health = bot.health
    assert health is not None  # serve starts the watch only for a store that has one

    async def deliver() -> None:
        await outbox.deliver_pending()

    health.on_recovered(lambda: recover_once(bot))
    health.on_recovered(deliver)
    return asyncio.create_task(health.watch_forever())
