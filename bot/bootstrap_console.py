"""The console's world, built by the composition root: the fake Slack and its response URLs, the
wired bot on the sim, the Bolt app and the report services on one outbox, the local timeline.

``ionbot console`` and ``ionbot simulate`` open a ``ConsoleSession``: the console's Session
(bot/console/session.py) over this world. The console reads the world only through
bot/console/ports.py, so it imports neither this module, the store nor the sim; tests and the
simulator, which look inside, get ``bot`` and ``api`` typed as built.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import bootstrap
from bot.bootstrap import Bot
from bot.config import Settings, load_settings
from bot.console.actions import Confirm
from bot.console.feed import RESPONSE_URL
from bot.console.payloads import Where
from bot.console.ports import SessionOptions, WorldRequest
from bot.console.session import DEFAULT_CHANNEL_NAME, Session, roles_of
from bot.console.words import ConsoleError
from bot.engine.permissions import TeamMember
from bot.engine.ports import Event
from bot.engine.records import StepState
from bot.reports.mail import mailer_from_settings
from bot.reports.render import ReportRenderer
from bot.reports.service import ReportServices, build_report_services
from bot.reports.template_check import validate_templates
from bot.runbook.loader import load_runbook
from bot.runbook.models import Runbook
from bot.scheduler import ScheduleCallbacks
from bot.sim.faults import FaultSyntaxError, check_faults
from bot.sim.slack_api import Call, FakeSlackApi, FakeSlackWorkspace
from bot.slack.delivery.report_poster import SlackReportPoster

if TYPE_CHECKING:
    from bot.web.routes import WebDeps

AppFactory = Callable[..., AsyncApp]
FAULT_NEAR = timedelta(minutes=30)  # after a fault ends, the triggers are still watched at the runbook's pace


@dataclass(frozen=True)
class ConsoleParts:
    """The world one session plays against (bot/console/ports.py ``ConsoleWorld``), as built."""

    bot: Bot
    api: FakeSlackApi
    app: AsyncApp
    jobs: ScheduleCallbacks
    where: Where
    files_dir: Path

    def fault_near(self, at: datetime) -> bool:
        """A fault is active, or ended less than half an hour ago: watch at the runbook's own pace."""
        sim = self.bot.sim
        if sim is None:
            return False
        for fault in sim.faults.faults:
            span = sim.faults.window(fault)
            if span is not None and span[0] <= at <= span[1] + FAULT_NEAR:
                return True
        return False

    async def note_production_done(self, event: Event) -> None:
        """Faults written 'after day2.1' start when that step's production lane is done."""
        bot = self.bot
        sim = bot.sim
        if sim is None or not event.step_id:
            return
        for lane in await bot.store.lanes(event.run_id):
            production = bot.rollout.is_production(lane.environment)
            if lane.step_id == event.step_id and production and lane.state is StepState.DONE:
                note = getattr(sim.metrics, "note_step_done", None)
                if note is not None:
                    note(lane.step_id, lane.changed_at or bot.clock.now())

    def local_timeline(self) -> WebDeps:
        return bootstrap.web_deps(self.bot, local=True)

    def timeline_served_at(self, url: str) -> None:
        self.bot.settings.timeline_url = url


class ConsoleSession(Session):
    """The console's Session over a world this root builds; ``bot`` and ``api`` are the built ones."""

    def __init__(
        self, options: SessionOptions, confirm: Confirm | None = None, app_factory: AppFactory | None = None
    ) -> None:
        self._app_factory = app_factory
        self._parts: ConsoleParts | None = None
        super().__init__(options, self._open_parts, confirm)

    async def _open_parts(self, request: WorldRequest, stack: AsyncExitStack) -> ConsoleParts:
        self._parts = await open_console_world(request, stack, self._app_factory)
        return self._parts

    @property
    def parts(self) -> ConsoleParts:
        if self._parts is None:
            raise RuntimeError("the console session has not started; use it as `async with ConsoleSession(...)`")
        return self._parts

    @property
    def bot(self) -> Bot:
        return self.parts.bot

    @property
    def api(self) -> FakeSlackApi:
        return self.parts.api


async def open_console_world(
    request: WorldRequest, stack: AsyncExitStack, app_factory: AppFactory | None = None
) -> ConsoleParts:
    """Build and start the session's world; everything started is closed by ``stack``."""
    options = request.options
    settings, throwaway = console_settings(options, request.team, stack)
    renderer = _renderer(settings.templates_dir)
    channel = options.channel or settings.channel
    runbook = load_runbook(settings.runbook)
    _check_faults(options.faults, runbook)  # a fault that could never fire is refused before the start
    api = await _fake_slack(request.team, channel, stack)
    response_base = await serve_response_urls(api, stack)
    where = Where(api.workspace.team_id, channel, DEFAULT_CHANNEL_NAME, response_base)
    bot = await bootstrap.build(
        settings,
        clock=request.clock,
        runbook=runbook,
        faults=list(options.faults),
        run_start=options.run_start,
        throwaway_store=throwaway,
    )
    stack.push_async_callback(bot.close)
    # One shared HTTP session: without it slack_sdk opens (and closes) a new session per API call.
    http = aiohttp.ClientSession()
    stack.push_async_callback(http.close)
    client = AsyncWebClient(token="xoxb-console", base_url=api.base_url, session=http)
    files = _files_dir(options, stack)
    app, reports = _app_and_reports(bot, client, renderer, files, app_factory)
    return ConsoleParts(bot, api, app, reports.jobs, where, files)


def console_settings(
    options: SessionOptions, team: tuple[TeamMember, ...], stack: AsyncExitStack
) -> tuple[Settings, bool]:
    """The session's settings, and whether its store is our own temporary file (nobody else
    writes it, and it is deleted at the end)."""
    overrides: dict[str, Any] = {}
    if options.extra_team:
        overrides["ION_ROLES"] = roles_of(team)
    throwaway = False
    if options.database_url:
        overrides["ION_DATABASE_URL"] = options.database_url
    elif options.start is not None:
        folder = Path(tempfile.mkdtemp(prefix="ionbot-console-"))
        stack.callback(_remove_tree, folder)
        overrides["ION_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder / 'ion.db'}"
        throwaway = True
    return load_settings(**overrides), throwaway


def _check_faults(faults: tuple[str, ...], runbook: Runbook) -> None:
    """The sim's own check of each fault, refused in the console's words (one sentence, exit code 2)."""
    try:
        check_faults(faults, runbook)
    except FaultSyntaxError as error:
        raise ConsoleError(str(error)) from None


async def _fake_slack(team: tuple[TeamMember, ...], channel: str, stack: AsyncExitStack) -> FakeSlackApi:
    """The fake Slack Web API on 127.0.0.1, knowing the team and the one channel played in."""
    api = FakeSlackApi()
    api.workspace = FakeSlackWorkspace(
        users={m.user_id: {"name": m.name, "real_name": m.name.title()} for m in team},
        channels={channel: DEFAULT_CHANNEL_NAME},
    )
    await api.start()
    stack.push_async_callback(api.stop)
    return api


async def serve_response_urls(api: FakeSlackApi, stack: AsyncExitStack) -> str:
    """Slack's response_url, played by a tiny route on 127.0.0.1; returns the URL base to hand out.
    Replies sent there are recorded on ``api`` like Web API calls, so the console's feed shows them."""

    async def answer(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {"text": await request.text()}
        call = Call(RESPONSE_URL, {**(body if isinstance(body, dict) else {}), "_tag": request.match_info["tag"]})
        api.attempts.append(call)
        api.recorded.append(call)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/response/{tag:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = int(runner.addresses[0][1])
    return f"http://127.0.0.1:{port}/response/"


def _files_dir(options: SessionOptions, stack: AsyncExitStack) -> Path:
    """Where report charts go; our own folder lives as long as the session that shows their paths."""
    if options.files_dir is not None:
        return options.files_dir
    files = Path(tempfile.mkdtemp(prefix="ionbot-charts-"))
    stack.callback(_remove_tree, files)
    return files


def _app_and_reports(
    bot: Bot, client: AsyncWebClient, renderer: ReportRenderer, files: Path, app_factory: AppFactory | None
) -> tuple[AsyncApp, ReportServices]:
    """The app and the one set of report services on one outbox: scheduled jobs fire into its
    jobs, and /ion report, standup, metrics use its commands through the app."""
    build_app = app_factory or _production_app_factory()
    outbox = bootstrap.outbox_for(bot, client)
    poster = SlackReportPoster(outbox, client, files_dir=files)
    mailer = mailer_from_settings(bot.settings, files)
    services = build_report_services(bot, poster, renderer, mailer=mailer)
    deps = bootstrap.slack_deps(bot, outbox, services.commands)
    app = build_app(deps, signing_secret=None, process_before_response=True)
    return bootstrap.finish_app(bot, app), services


def _production_app_factory() -> AppFactory:
    """The production Bolt app; imported late so the rest of the console loads without it."""
    from bot.slack.app import build_app

    return build_app


def _renderer(templates_dir: Path | None) -> ReportRenderer:
    """The team's templates (``ION_TEMPLATES_DIR``) as ``serve`` uses them; a broken one stops the start."""
    problems = validate_templates(templates_dir)
    if problems:
        raise ConsoleError("the report templates do not render: " + " ".join(problems))
    return ReportRenderer(templates_dir)


def _remove_tree(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
