"""One console session: the fake Slack, the wired bot, the Bolt app, and what each typed line does.

Every line becomes the request Slack would send (``console_payloads``), goes through
``app.async_dispatch`` (the same listeners as production), and comes back as the Web API
calls the bot made (``console_feed``). ``ionbot console`` and ``ionbot simulate`` both drive
this class; only how lines arrive and how replies are shown differ.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot import bootstrap
from bot.bootstrap import Bot
from bot.config import load_settings
from bot.engine.clock import SystemClock
from bot.engine.permissions import DEMO_TEAM, TeamMember
from bot.engine.ports import Event
from bot.engine.records import StepState
from bot.runbook.loader import load_runbook
from bot.scheduler import run_dates
from bot.sim.slack_api import Call, FakeSlackApi, FakeSlackWorkspace
from bot.slack import console_payloads as payloads
from bot.slack.console_feed import RESPONSE_URL, Card, Entry, Feed
from bot.slack.console_input import (
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
from bot.slack.console_jobs import EngineCallbacks, Fired, JobDriver, SteppedClock, settle_tasks

DEFAULT_CHANNEL_NAME = "ion-rollout"
Confirm = Callable[[str, str], Awaitable[bool]]
AppFactory = Callable[..., AsyncApp]


def _default_app_factory() -> AppFactory:
    """The production Bolt app; imported late so the rest of the console loads without it."""
    from bot.slack.app import build_app

    return build_app


@dataclass(frozen=True)
class Note:
    """A line from the console itself (not the bot): help, a refusal to act, what happened."""

    text: str
    style: str = "yellow"


Output = Entry | Note


@dataclass
class Reply:
    outputs: list[Output] = field(default_factory=list)
    quit: bool = False


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
    reports: object | None = None  # the reports hook for scheduled jobs, when wired
    extra_team: tuple[TeamMember, ...] = ()  # people beyond the demo team (sets ION_ROLES for the session)


class ConsoleError(Exception):
    """Something the person must fix before the console can start; the message says what."""


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
        self._confirm = confirm
        self._stack = AsyncExitStack()
        self.api = FakeSlackApi()
        self.team: tuple[TeamMember, ...] = (*DEMO_TEAM, *options.extra_team)
        self.user = person(options.user, self.team) or payloads.Person("U_LEAD", "lee")
        self.clock: SteppedClock | None = None
        self.driver: JobDriver | None = None
        self.callbacks: EngineCallbacks | None = None
        self._baseline: set[asyncio.Task[Any]] = set()
        self._submitted: dict[str, Any] | None = None
        self._responses = 0
        self._job_outputs: list[Output] = []
        self.job_log: list[tuple[Fired, list[Entry]]] = []  # each job that ran and what it posted
        self.events: list[Event] = []
        self.last_actions: list[dict[str, Any]] = []  # every button or checkbox action sent, oldest first

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
        overrides: dict[str, Any] = {}
        if self.options.extra_team:
            overrides["ION_ROLES"] = roles_of(self.team)
        if self.options.database_url:
            overrides["ION_DATABASE_URL"] = self.options.database_url
        elif self.options.start is not None:
            folder = Path(tempfile.mkdtemp(prefix="ionbot-console-"))
            self._stack.callback(_remove_tree, folder)
            overrides["ION_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder / 'ion.db'}"
        settings = load_settings(**overrides)
        channel = self.options.channel or settings.channel
        self.channel = channel
        runbook = load_runbook(settings.runbook)
        self.zone = ZoneInfo(runbook.calendar.timezone)
        self.api.workspace = FakeSlackWorkspace(
            users={m.user_id: {"name": m.name, "real_name": m.name.title()} for m in self.team},
            channels={channel: DEFAULT_CHANNEL_NAME},
        )
        await self.api.start()
        self._stack.push_async_callback(self.api.stop)
        response_base = await self._start_response_urls()
        self.where = payloads.Where(self.api.workspace.team_id, channel, DEFAULT_CHANNEL_NAME, response_base)
        clock = SteppedClock(self.options.start) if self.options.start is not None else SystemClock()
        self.bot: Bot = await bootstrap.build(
            settings,
            clock=clock,
            runbook=runbook,
            faults=list(self.options.faults),
            run_start=self.options.run_start,
        )
        self._stack.push_async_callback(self.bot.close)
        self.client = AsyncWebClient(token="xoxb-console", base_url=self.api.base_url)
        self.app = build_app(self.bot, self.client, signing_secret=None, process_before_response=True)
        self.feed = Feed(self.api, {m.user_id: m.name for m in self.team})
        self.bot.events.subscribe(self._note_production_done)
        if isinstance(clock, SteppedClock):
            self.clock = clock
            self.callbacks = EngineCallbacks(self.bot, self.options.reports)
            self.driver = JobDriver(
                self.bot,
                clock,
                self.callbacks,
                self._settle_and_keep,
                watch_every=self.options.watch_every,
                watch_hours=self.options.watch_hours,
                close_watch=self._fault_near,
                on_fired=self._job_fired,
            )
        self._baseline = set(asyncio.all_tasks())

    async def _start_response_urls(self) -> str:
        """Slack's response_url, played by a tiny route on 127.0.0.1; replies are recorded as calls."""

        async def answer(request: web.Request) -> web.Response:
            try:
                body = await request.json()
            except ValueError:
                body = {"text": await request.text()}
            call = Call(RESPONSE_URL, {**(body if isinstance(body, dict) else {}), "_tag": request.match_info["tag"]})
            self.api.attempts.append(call)
            self.api.recorded.append(call)
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/response/{tag:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = int(runner.addresses[0][1])
        return f"http://127.0.0.1:{port}/response/"

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
            production = self.bot.rollout.ctx.is_production(lane.environment)
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
            reply.outputs += await self._click(line)
        elif isinstance(line, TickLine):
            reply.outputs += await self._tick(line)
        elif isinstance(line, TypeLine):
            reply.outputs += await self._type(line.text)
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

    def _answer(self, response: BoltResponse, channel: str) -> list[Output]:
        """What came back in the HTTP answer itself: an ack with text, or a modal's field errors."""
        body = (response.body or "").strip()
        outputs: list[Output] = []
        if response.status >= 400:
            return [Note(f"The bot answered HTTP {response.status}: {body[:200] or 'no reason given'}.")]
        if not body:
            return outputs
        try:
            data = json.loads(body)
        except ValueError:
            data = {"text": body}
        if not isinstance(data, dict):
            return outputs
        if data.get("response_action") == "errors":
            errors = data.get("errors") or {}
            for message in errors.values() if isinstance(errors, dict) else []:
                outputs.append(Note(f"The dialog is still open: {message}"))
            return outputs
        if data.get("response_action") in ("clear", "update", "push"):
            return outputs
        if data.get("text") or data.get("blocks"):
            outputs.append(self.feed.reply(channel, data, "only visible to you"))
        return outputs

    async def _collect(self, response: BoltResponse, channel: str) -> list[Output]:
        answer = self._answer(response, channel)
        return [*answer, *self.said()]

    def said(self) -> list[Output]:
        """Everything the bot said that has not been shown yet, oldest first."""
        outputs: list[Output] = [*self._job_outputs, *self.feed.take()]
        self._job_outputs = []
        return outputs

    async def _slash(self, text: str) -> list[Output]:
        response = await self.dispatch(payloads.slash_command(text, self.user, self.where))
        return await self._collect(response, self.channel)

    def _ref(self, card: Card) -> payloads.MessageRef:
        return payloads.MessageRef(card.channel or self.channel, card.ts, card.payload, card.ephemeral)

    def _tag(self, card: Card) -> str:
        self._responses += 1
        return f"card/{card.number}/{self._responses}"

    async def _click(self, line: ClickLine) -> list[Output]:
        card = self.feed.newest_with_button(line.label, line.card)
        if card is None:
            where = f"card @{line.card}" if line.card else "any card"
            return [Note(f"No button '{line.label}' on {where}; nothing was pressed. {self._buttons_hint(line.card)}")]
        button = card.button(line.label)
        assert button is not None
        outputs: list[Output] = []
        element = card.element(button.block_id, button.action_id) or {}
        confirm = element.get("confirm")
        if isinstance(confirm, dict):
            title = str((confirm.get("title") or {}).get("text", "Are you sure?"))
            text = str((confirm.get("text") or {}).get("text", ""))
            if self._confirm is None:
                outputs.append(Note(f"{title} {text} (confirmed automatically: input is not a terminal)", "dim"))
            elif not await self._confirm(title, text):
                return [Note(f"Not confirmed; [{button.label}] was not pressed.", "dim")]
        action = payloads.button_action(button.action_id, button.block_id, button.value, button.label)
        self.last_actions.append(action)
        body = payloads.block_actions(self.user, self.where, self._ref(card), [action], response_tag=self._tag(card))
        response = await self.dispatch(body)
        return outputs + await self._collect(response, card.channel or self.channel)

    def _buttons_hint(self, number: int | None) -> str:
        pool = [c for c in self.feed.cards if number is None or c.number == number]
        labels = sorted({b.label for c in pool[-5:] for b in c.elements.buttons})
        return f"Buttons on the latest cards: {', '.join(labels)}." if labels else "No card has buttons yet."

    async def _tick(self, line: TickLine) -> list[Output]:
        card = self.feed.newest_with_checkboxes()
        if card is None:
            return [Note("No card has a checklist yet; post one with /ion step ID or /ion gonogo. Nothing was ticked.")]
        boxes = card.elements.checkboxes
        wrong = [n for n in line.numbers if n > len(boxes)]
        if wrong:
            return [
                Note(f"Card @{card.number} has {len(boxes)} boxes, so there is no box {wrong[0]}; nothing was ticked.")
            ]
        outputs: list[Output] = []
        toggled = set(line.numbers)
        groups: dict[tuple[str, str], list[Any]] = {}
        for box in boxes:
            group = groups.setdefault((box.block_id, box.action_id), [])
            if box.checked != (box.number in toggled):
                group.append(box.option)
        touched = {(b.block_id, b.action_id) for b in boxes if b.number in toggled}
        for block_id, action_id in [k for k in groups if k in touched]:
            action = payloads.checkboxes_action(action_id, block_id, groups[(block_id, action_id)])
            self.last_actions.append(action)
            body = payloads.block_actions(
                self.user, self.where, self._ref(card), [action], response_tag=self._tag(card)
            )
            response = await self.dispatch(body)
            outputs += await self._collect(response, card.channel or self.channel)
        return outputs

    async def _type(self, text: str) -> list[Output]:
        views = self.feed.views
        if not views or views[-1] is self._submitted:
            return [Note("No dialog is open; a Run or Roll back button opens one. Nothing was sent.")]
        view = views[-1]
        response = await self.dispatch(payloads.view_submission(self.user, self.where, view, text))
        outputs = await self._collect(response, self.channel)
        if not any(isinstance(o, Note) and o.text.startswith("The dialog is still open") for o in outputs):
            self._submitted = view
        return outputs

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


def _remove_tree(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
