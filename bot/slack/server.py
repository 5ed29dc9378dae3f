"""`ionbot serve`: the Slack endpoint, health and readiness probes, and the background loops.

HTTP mode serves POST /slack/events through the edge (bot/slack/transport/edge.py: the signature is
checked on the raw bytes, 401 when it is wrong or older than five minutes; malformed bodies get a
4xx, never a 500). With SLACK_APP_TOKEN set, events arrive over Socket Mode instead
and the HTTP server keeps only the probes (Cloud Run still needs a port); an envelope Slack
delivers twice (same id), to this replica or another, is dispatched once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web
from aiohttp.log import access_logger

from bot.config import Settings, require_for_serve
from bot.engine.errors import StoreUnavailable
from bot.heap import freeze_startup_heap
from bot.serve_checks import StartupProblems, startup_problems
from bot.slack.transport.startup_gate import StartupGate
from bot.web.mount import WebView
from bot.web.serving import mount as mount_timeline

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.bootstrap import Bot
    from bot.engine.ports import Clock
    from bot.store.envelopes import Arrival, EnvelopesStore

log = structlog.get_logger(__name__)

ReadyCheck = Callable[[], Awaitable[bool]]
BotBuilder = Callable[[Settings], Awaitable["Bot"]]
EVENTS_PATH = "/slack/events"
OUTBOX_INTERVAL_SECONDS = 30.0


class Startup:
    """What the probes and the Slack endpoint see while the bot is still being built behind them.

    The port is bound first so /healthz answers at once; /readyz says "starting" until ``open``
    hands over the app and its check. A signed Slack request that arrives meanwhile is held by
    the ``gate`` (bot/slack/transport/startup_gate.py) and answered once the bot is ready, never refused;
    once the bot stops (``open(None, ...)`` after it was open) /slack/events answers 503.
    """

    def __init__(self, gate: StartupGate | None = None) -> None:
        self.app: AsyncApp | None = None
        self.ready: ReadyCheck | None = None
        self.gate = gate
        self.stopping = False

    def open(self, app: AsyncApp | None, ready: ReadyCheck) -> None:
        self.stopping = self.stopping or (self.app is not None and app is None)
        self.app = app
        self.ready = ready
        if app is not None and self.gate is not None:
            self.gate.open(app)


def make_web_app(app: AsyncApp | None, ready: ReadyCheck) -> web.Application:
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


def database_and_loops_ready(bot: Any, loops: Sequence[asyncio.Task[Any]]) -> ReadyCheck:
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


async def recover_once(bot: Any) -> None:
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


async def recover_forever(bot: Any) -> None:
    """Recovery every lease, so a replica that dies mid-step is reconciled by a survivor within two."""
    interval = bot.rollout.ctx.lease.total_seconds()
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
    ready: ReadyCheck | None = None,
    build_bot: BotBuilder | None = None,
    on_listening: Callable[[int], None] | None = None,
    new_store: bool = False,
) -> None:
    """Run until cancelled: the bot, its Slack app (HTTP or Socket Mode), the probes and the loops.

    The port is bound before anything heavy is imported or built, so the platform sees a live
    process at once; /readyz turns 200 only when the bot, recovery and the Runtime are up. A
    failure while building closes the port and raises, so the process exits with its message.
    The scheduler (reports, standups, decision reminders, hourly scaling rules, the trigger
    watch) runs in the Runtime; its claims make a second replica on the same database harmless.
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
        await _serve_built(settings, startup, ready, build_bot, socket_mode, new_store, timeline)
    finally:
        if startup.gate is not None:
            await startup.gate.close()
        await runner.cleanup()


def _import_heavy_modules() -> None:
    for name in (
        "bot.bootstrap",
        "bot.runtime",
        "bot.slack.app",
        "bot.reports.render",
        "bot.slack.delivery.report_poster",
    ):
        importlib.import_module(name)


async def _serve_built(
    settings: Settings,
    startup: Startup,
    ready: ReadyCheck | None,
    build_bot: BotBuilder | None,
    socket_mode: bool,
    new_store: bool = False,
    timeline: WebView | None = None,
) -> None:
    """Build everything behind the bound port, open the gate, and run until cancelled."""
    # Import the heavy modules in a worker thread: the loop keeps answering /healthz meanwhile.
    await asyncio.to_thread(_import_heavy_modules)
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.reports.render import ReportRenderer
    from bot.reports.template_check import validate_templates
    from bot.runtime import Runtime
    from bot.slack.app import build_app, state_of
    from bot.slack.delivery.report_poster import SlackReportPoster

    runbook, problems = await startup_problems(settings, new_store=new_store)
    problems += [f"ION_TEMPLATES_DIR: {p}" for p in validate_templates(settings.templates_dir)]
    if problems:
        raise StartupProblems(problems)
    bot = await _build(settings, build_bot, runbook)
    if timeline is not None:
        from bot.bootstrap import web_deps

        timeline.open(web_deps(bot))
    runtime: Runtime | None = None
    loops: list[asyncio.Task[Any]] = []
    socket_handler: Any = None
    try:
        client = AsyncWebClient(
            token=settings.slack_bot_token, base_url=settings.slack_api_url or AsyncWebClient.BASE_URL
        )
        app = build_app(bot, client, signing_secret=None if socket_mode else settings.slack_signing_secret)
        await recover_once(bot)
        state = state_of(app)
        poster = SlackReportPoster(state.outbox, client)
        runtime = Runtime(bot, poster, AsyncIOScheduler(), renderer=ReportRenderer(settings.templates_dir))
        state.reports = runtime.reports
        await runtime.start()
        loops.append(asyncio.create_task(state.outbox.run_forever(OUTBOX_INTERVAL_SECONDS)))
        loops.append(asyncio.create_task(recover_forever(bot)))
        if bot.health is not None:
            loops.append(watch_the_store(bot, state.outbox))
        freeze_startup_heap()
        if socket_mode:  # connected before /readyz says 200: until then no envelope can arrive
            envelopes = SharedEnvelopes(bot.store, bot.clock, bot.rollout.ctx.owner)
            socket_handler = socket_mode_handler(app, str(settings.slack_app_token), envelopes)
            await socket_handler.connect_async()
        checks = [database_and_loops_ready(bot, loops), runtime.ready]
        if socket_handler is not None:  # a dropped socket (reconnecting) is not ready either
            checks.append(socket_connected(socket_handler))
        startup.open(None if socket_mode else app, ready or _all_ready(*checks))
        log.info("ionbot ready", mode="socket" if socket_mode else "http")
        await asyncio.Event().wait()
    finally:
        startup.open(None, _not_ready)
        if timeline is not None:
            timeline.open(None)
        if socket_handler is not None:  # first: no new envelope may start work while the rest stops
            await close_socket_mode(socket_handler)
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        if runtime is not None:
            await runtime.stop()
        await bot.close()


async def _build(settings: Settings, build_bot: BotBuilder | None, runbook: Any) -> Bot:
    """The bot, on the runbook the start-up checks loaded; an embedded store is recorded as holding
    the bot's state (bot/store/embedded.py), so losing it later is noticed at the next start."""
    from bot.bootstrap import build
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


async def _not_ready() -> bool:
    return False


def watch_the_store(bot: Any, outbox: Any) -> asyncio.Task[None]:
    """The store's health watch (bot/store/health.py): it notices an outage's end by itself, and then
    reconciles what the outage interrupted and delivers what waited, without a restart."""

    async def deliver() -> None:
        await outbox.deliver_pending()

    bot.health.on_recovered(lambda: recover_once(bot))
    bot.health.on_recovered(deliver)
    return asyncio.create_task(bot.health.watch_forever())


class SharedEnvelopes:
    """The Socket Mode envelopes taken by any replica, by id, in the database (bot/store/envelopes.py).

    Over HTTP a retry says so (X-Slack-Retry-Num); a slash command or a button press redelivered
    over a socket says nothing, and may come to another replica's socket, so its envelope id, known
    to every replica, is the only way to tell it from a new press. A first delivery still unacked
    after ``in_flight_for`` belonged to a replica that died: the next delivery is worked.
    """

    def __init__(
        self, store: EnvelopesStore, clock: Clock, owner: str, in_flight_for: timedelta = timedelta(seconds=30)
    ) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self.in_flight_for = in_flight_for

    async def arrived(self, envelope_id: str) -> Arrival:
        return await self.store.arrive(envelope_id, self.owner, self.clock.now() - self.in_flight_for)

    async def acked(self, envelope_id: str) -> None:
        await self.store.envelope_acked(envelope_id)

    async def failed(self, envelope_id: str) -> None:
        """Not acked: Slack will send it again, and that delivery deserves a real try."""
        await self.store.envelope_failed(envelope_id, self.owner)


def socket_mode_handler(app: AsyncApp, app_token: str, envelopes: SharedEnvelopes) -> Any:
    """Bolt's Socket Mode handler, dispatching each envelope once however often Slack delivers it.

    A redelivery of an acked envelope is acked again (Slack missed the first ack) and nothing
    else; one that arrives while the first is still in flight waits for that first ack.
    """
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
    from slack_sdk.socket_mode.response import SocketModeResponse

    from bot.slack.transport.edge import guard_socket_frames, screen_envelope

    handler = AsyncSocketModeHandler(app, app_token)
    guard_socket_frames(handler.client)

    async def handle_once(client: Any, req: Any) -> None:
        req.payload, refusal = screen_envelope(app, req.payload)
        if refusal is not None:  # unexpected: refused privately (or not at all), acked, never worked
            answer = SocketModeResponse(envelope_id=req.envelope_id, payload=refusal or None)
            await client.send_socket_mode_response(answer)
            return
        try:
            seen = await envelopes.arrived(req.envelope_id)
        except StoreUnavailable:  # the app answers it without the database (bot/slack/delivery/outage.py)
            seen = "new"
        if seen != "new":
            log.info("a redelivered Socket Mode envelope was not handled again", envelope_id=req.envelope_id, seen=seen)
            if seen == "acked":
                await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        try:
            response = await run_async_bolt_app(app, req)
        except BaseException:
            with contextlib.suppress(Exception):  # the listener's error is the one to see
                await envelopes.failed(req.envelope_id)
            raise
        with contextlib.suppress(StoreUnavailable):  # the ack (and the outage answer in it) still goes
            if response.status == 200:
                await envelopes.acked(req.envelope_id)
            else:
                await envelopes.failed(req.envelope_id)
        await send_async_response(client, req, response, time.time())

    handler.client.socket_mode_request_listeners[:] = [handle_once]
    return handler


async def close_socket_mode(handler: Any) -> None:
    """Close the connection and wait for the client's own tasks, which ``close`` only cancels."""
    await handler.close_async()
    client = handler.client
    tasks = [t for t in (client.message_processor, client.current_session_monitor, client.message_receiver) if t]
    await asyncio.gather(*tasks, return_exceptions=True)
