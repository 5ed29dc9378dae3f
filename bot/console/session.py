"""One console session: the fake Slack, the wired bot, the Bolt app, and what each typed line does.

Every line becomes the request Slack would send (``console_payloads``, ``console_actions``), goes
through ``app.async_dispatch`` (the same listeners as production), and comes back as the Web API
calls the bot made (``console_feed``). ``ionbot console`` and ``ionbot simulate`` both drive
this class; only how lines arrive and how replies are shown differ. Scheduled jobs and the
on-demand report commands go through the same report services serve uses, posting through the
app's outbox; charts are written to ``files_dir`` and the report shows their path.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot import bootstrap
from bot.bootstrap import Bot
from bot.config import Settings, load_settings
from bot.console import payloads
from bot.console.actions import CardActions, Confirm, answer, serve_response_urls
from bot.console.feed import Entry, Feed
from bot.console.input_lines import (
    CONSOLE_HELP,
    AdvanceBy,
    AdvanceTo,
    AsLine,
    BlankLine,
    ClickLine,
    ConsoleLine,
    HelpLine,
    QuitLine,
    SlashLine,
    TickLine,
    TypeLine,
    UnknownLine,
)
from bot.console.jobs import Fired, JobDriver, SteppedClock, settle_tasks
from bot.console.words import ConsoleError, Note, Output, Reply
from bot.engine.clock import SystemClock
from bot.engine.permissions import DEMO_TEAM, TeamMember
from bot.engine.ports import Event
from bot.engine.records import StepState
from bot.reports.mail import mailer_from_settings
from bot.reports.render import ReportRenderer
from bot.reports.service import ReportServices, build_report_services
from bot.reports.template_check import validate_templates
from bot.runbook.loader import load_runbook
from bot.scheduler import run_dates
from bot.sim.faults import check_faults
from bot.sim.slack_api import FakeSlackApi, FakeSlackWorkspace
from bot.slack.delivery.report_poster import SlackReportPoster

DEFAULT_CHANNEL_NAME = "ion-rollout"
AppFactory = Callable[..., AsyncApp]
__all__ = ["ConsoleError", "Note", "Output", "Reply", "Session", "SessionOptions", "default_virtual_start"]


def _default_app_factory() -> AppFactory:
    """The production Bolt app; imported late so the rest of the console loads without it."""
    from bot.slack.app import build_app

    return build_app


@dataclass(frozen=True)
class SessionOptions:
    """``start`` set means a virtual clock starting then; None means the real clock."""

    start: datetime | None = None
    user: str = "lee"
    channel: str | None = None
    faults: tuple[str, ...] = ()
    run_start: date | None = None
    watch_every: int = 1
    watch_hours: tuple[time, time] | None = None  # poll the triggers only between these local times
    database_url: str | None = None
    files_dir: Path | None = None  # where report charts are written (default: a fresh temporary folder)
    extra_team: tuple[TeamMember, ...] = ()  # people beyond the demo team (sets ION_ROLES for the session)


def person(name: str, team: Sequence[TeamMember] = DEMO_TEAM) -> payloads.Person | None:
    member = next((m for m in team if m.name == name), None)
    return payloads.Person(member.user_id, member.name) if member else None


def roles_of(team: Sequence[TeamMember]) -> dict[str, list[str]]:
    """ION_ROLES for a team: role -> user ids."""
    roles: dict[str, list[str]] = {}
    for member in team:
        roles.setdefault(member.role, []).append(member.user_id)
    return roles


class Session:
    """Use as ``async with Session(options) as session: reply = await session.send(line)``."""

    def __init__(
        self, options: SessionOptions, confirm: Confirm | None = None, app_factory: AppFactory | None = None
    ) -> None:
        self.options = options
        self._app_factory = app_factory
        self.actions = CardActions(self, confirm)
        self._stack = AsyncExitStack()
        self.api = FakeSlackApi()
        self.team: tuple[TeamMember, ...] = (*DEMO_TEAM, *options.extra_team)
        self.user = person(options.user, self.team) or payloads.Person("U_LEAD", "lee")
        self.clock: SteppedClock | None = None
        self.driver: JobDriver | None = None
        self._baseline: set[asyncio.Task[Any]] = set()
        self._job_outputs: list[Output] = []
        self.job_log: list[tuple[Fired, list[Entry]]] = []  # each job that ran and what it posted
        self.events: list[Event] = []
        self.started: list[Note] = []  # what the console did on start (executions it reconciled)

    @property
    def last_actions(self) -> list[dict[str, Any]]:
        """Every button or checkbox action sent, oldest first."""
        return self.actions.sent

    # --- lifecycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Session:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        build_app = self._app_factory or _default_app_factory()
        if person(self.options.user, self.team) is None:
            team = ", ".join(m.name for m in self.team)
            raise ConsoleError(f"There is no demo team member '{self.options.user}'; choose one of {team}.")
        settings, throwaway = self._settings()
        self.renderer = _renderer(settings.templates_dir)
        channel = self.options.channel or settings.channel
        self.channel = channel
        runbook = load_runbook(settings.runbook)
        check_faults(self.options.faults, runbook)  # a fault that could never fire is refused before the start
        self.zone = ZoneInfo(runbook.calendar.timezone)
        self.api.workspace = FakeSlackWorkspace(
            users={m.user_id: {"name": m.name, "real_name": m.name.title()} for m in self.team},
            channels={channel: DEFAULT_CHANNEL_NAME},
        )
        await self.api.start()
        self._stack.push_async_callback(self.api.stop)
        response_base = await serve_response_urls(self.api, self._stack)
        self.where = payloads.Where(self.api.workspace.team_id, channel, DEFAULT_CHANNEL_NAME, response_base)
        clock = SteppedClock(self.options.start) if self.options.start is not None else SystemClock()
        self.bot: Bot = await bootstrap.build(
            settings,
            clock=clock,
            runbook=runbook,
            faults=list(self.options.faults),
            run_start=self.options.run_start,
            throwaway_store=throwaway,
        )
        self._stack.push_async_callback(self.bot.close)
        # One shared HTTP session: without it slack_sdk opens (and closes) a new session per API call.
        http = aiohttp.ClientSession()
        self._stack.push_async_callback(http.close)
        self.client = AsyncWebClient(token="xoxb-console", base_url=self.api.base_url, session=http)
        self.app, self.reports = self._app_and_reports(build_app)
        self.feed = Feed(self.api, {m.user_id: m.name for m in self.team})
        self.bot.events.subscribe(self._note_production_done)
        self.started = await self._recover()
        if isinstance(clock, SteppedClock):
            self.clock = clock
            self.driver = JobDriver(
                self.bot,
                clock,
                self.reports.jobs,
                self._settle_and_keep,
                watch_every=self.options.watch_every,
                watch_hours=self.options.watch_hours,
                close_watch=self._fault_near,
                on_fired=self._job_fired,
            )
        self._baseline = set(asyncio.all_tasks())

    def _settings(self) -> tuple[Settings, bool]:
        """The session's settings, and whether its store is our own temporary file (nobody else
        writes it, and it is deleted at the end)."""
        overrides: dict[str, Any] = {}
        if self.options.extra_team:
            overrides["ION_ROLES"] = roles_of(self.team)
        throwaway = False
        if self.options.database_url:
            overrides["ION_DATABASE_URL"] = self.options.database_url
        elif self.options.start is not None:
            folder = Path(tempfile.mkdtemp(prefix="ionbot-console-"))
            self._stack.callback(_remove_tree, folder)
            overrides["ION_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder / 'ion.db'}"
            throwaway = True
        return load_settings(**overrides), throwaway

    def _app_and_reports(self, build_app: AppFactory) -> tuple[AsyncApp, ReportServices]:
        """The app and the one set of report services on one outbox: scheduled jobs fire into its
        jobs, and /ion report, standup, metrics use its commands through the app."""
        files = self.options.files_dir
        if files is None:  # our own folder: the charts live as long as the session that shows their paths
            files = Path(tempfile.mkdtemp(prefix="ionbot-charts-"))
            self._stack.callback(_remove_tree, files)
        self.files_dir = files
        outbox = bootstrap.outbox_for(self.bot, self.client)
        poster = SlackReportPoster(outbox, self.client, files_dir=files)
        mailer = mailer_from_settings(self.bot.settings, files)
        services = build_report_services(self.bot, poster, self.renderer, mailer=mailer)
        deps = bootstrap.slack_deps(self.bot, outbox, services.commands)
        app = build_app(deps, signing_secret=None, process_before_response=True)
        return bootstrap.finish_app(self.bot, app), services

    async def _recover(self) -> list[Note]:
        """Executions a stopped console left running (Ctrl-C on ./ion.db) are reconciled before any line."""
        reconciled = await self.bot.rollout.recovery_pass()
        notes = [Note(f"Reconciled an interrupted execution: {r.message}") for r in reconciled.recovered]
        for execution in reconciled.left_alone:
            notes.append(
                Note(
                    f"{execution.step_id} ({execution.environment}) is still held by another bot process "
                    f"(owner {execution.owner}); it was left alone. If that process has stopped, restart the "
                    "console after its lease expires and it will be reconciled."
                )
            )
        return notes

    def _fault_near(self, at: datetime) -> bool:
        """A fault is active, or ended less than half an hour ago: watch at the runbook's own pace."""
        sim = self.bot.sim
        if sim is None:
            return False
        for fault in sim.faults.faults:
            span = sim.faults.window(fault)
            if span is not None and span[0] <= at <= span[1] + timedelta(minutes=30):
                return True
        return False

    async def _job_fired(self, fired: Fired) -> None:
        """Keep what each job posted with the job, so reports can be written out as files."""
        entries = self.feed.take()
        self._job_outputs += entries
        self.job_log.append((fired, entries))

    async def _note_production_done(self, event: Event) -> None:
        """Faults written 'after day2.1' start when that step's production lane is done."""
        self.events.append(event)
        sim = self.bot.sim
        if sim is None or not event.step_id:
            return
        for lane in await self.bot.store.lanes(event.run_id):
            production = self.bot.rollout.is_production(lane.environment)
            if lane.step_id == event.step_id and production and lane.state is StepState.DONE:
                note = getattr(sim.metrics, "note_step_done", None)
                if note is not None:
                    note(lane.step_id, lane.changed_at or self.bot.clock.now())

    async def _settle_and_keep(self) -> None:
        """While time moves: settle, and keep what was said so far apart from what the next job says."""
        await self.settle()
        self._job_outputs += self.feed.take()

    async def settle(self) -> None:
        """Let the bot's background work (listeners, executions) finish or fall asleep on the clock."""
        await settle_tasks(self._baseline, self.clock, limit=10.0 if self.clock else 2.0)

    # --- sending lines ------------------------------------------------------------------------

    async def dispatch(self, body: str) -> BoltResponse:
        response = await self.app.async_dispatch(AsyncBoltRequest(body=body, headers=payloads.headers()))
        await self.settle()
        return response

    async def send(self, line: ConsoleLine) -> Reply:
        """Act on one typed line; the reply lists, in order, what the console and the bot said."""
        reply = Reply()
        if isinstance(line, BlankLine):
            return reply
        if isinstance(line, QuitLine):
            reply.quit = True
            return reply
        if isinstance(line, HelpLine):
            reply.outputs.append(Note(CONSOLE_HELP, ""))
            return reply
        if isinstance(line, UnknownLine):
            reply.outputs.append(Note(line.message))
            return reply
        if isinstance(line, AsLine):
            reply.outputs.append(Note(self._switch(line.name), "dim"))
            return reply
        before = len(self.api.recorded)
        if isinstance(line, SlashLine):
            reply.outputs += await self._slash(line.text)
        elif isinstance(line, ClickLine):
            reply.outputs += await self.actions.click(line)
        elif isinstance(line, TickLine):
            reply.outputs += await self.actions.tick(line)
        elif isinstance(line, TypeLine):
            reply.outputs += await self.actions.type(line.text)
        elif isinstance(line, AdvanceBy | AdvanceTo):
            reply.outputs += await self._advance(line)
        if len(self.api.recorded) == before and not reply.outputs:
            reply.outputs.append(Note("(the bot said nothing)", "dim"))
        return reply

    def _switch(self, name: str) -> str:
        found = person(name, self.team)
        if found is None:
            team = ", ".join(f"{m.name} ({m.role})" for m in self.team)
            return f"There is no demo team member '{name}'; still typing as {self.user.name}. The team: {team}."
        self.user = found
        role = next(m.role for m in self.team if m.name == name)
        return f"Now typing as {found.name} ({role})."

    async def collect(self, response: BoltResponse, channel: str) -> list[Output]:
        """The HTTP answer first, then everything the bot said meanwhile."""
        return [*answer(response, self.feed, channel), *self.said()]

    def said(self) -> list[Output]:
        """Everything the bot said that has not been shown yet, oldest first."""
        outputs: list[Output] = [*self._job_outputs, *self.feed.take()]
        self._job_outputs = []
        return outputs

    async def _slash(self, text: str) -> list[Output]:
        response = await self.dispatch(payloads.slash_command(text, self.user, self.where))
        return await self.collect(response, self.channel)

    # --- time ---------------------------------------------------------------------------------

    async def day_date(self, day: int) -> date:
        run = await self.bot.store.open_run(self.channel)
        start = run.start_date if run else (self.options.run_start or self.bot.clock.now().astimezone(self.zone).date())
        return run_dates(self.bot.runbook.calendar, start)[day - 1]

    async def _advance(self, line: AdvanceBy | AdvanceTo) -> list[Output]:
        if self.driver is None:
            return [Note("The clock is real, so it cannot be moved; start with --clock virtual to use advance.")]
        now = self.bot.clock.now()
        if isinstance(line, AdvanceBy):
            target = now + line.delta
        else:
            days = self.bot.runbook.calendar.working_days
            if line.day is not None and not 1 <= line.day <= days:
                return [Note(f"The run has days 1 to {days}; there is no day {line.day}. The clock did not move.")]
            on = await self.day_date(line.day) if line.day else now.astimezone(self.zone).date()
            target = datetime.combine(on, line.at, self.zone)
            if target < now:
                shown = f"{now.astimezone(self.zone):%a %d %b %H:%M}"
                return [Note(f"That time has passed (it is {shown}); the clock only moves forward and did not move.")]
        fired = await self.driver.advance_to(target)
        outputs = self.said()
        jobs = sorted({f.due.job.kind for f in fired if f.result.posted and f.due.job.kind != "trigger_watch"})
        ran = f"; jobs run: {', '.join(jobs)}" if jobs else ""
        outputs.append(Note(f"It is now {self.local_now():%a %d %b %H:%M %Z}{ran}.", "dim"))
        return outputs

    def local_now(self) -> datetime:
        return self.bot.clock.now().astimezone(self.zone)


def default_virtual_start(zone: ZoneInfo, on: date = date(2026, 11, 2), at: time = time(8, 30)) -> datetime:
    """The documented default start of a virtual clock: Monday 2 Nov 2026, 08:30 in the runbook's zone."""
    return datetime.combine(on, at, zone)


def _renderer(templates_dir: Path | None) -> ReportRenderer:
    """The team's templates (``ION_TEMPLATES_DIR``) as ``serve`` uses them; a broken one stops the start."""
    problems = validate_templates(templates_dir)
    if problems:
        raise ConsoleError("the report templates do not render: " + " ".join(problems))
    return ReportRenderer(templates_dir)


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
