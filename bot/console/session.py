"""One console session: what each typed line does to the world the composition root built for it.

The fake Slack, the wired bot, the Bolt app and the report jobs come from ``open_world``
(bot/bootstrap_console.py builds them; bot/console/ports.py says what is read). Every line
becomes the request Slack would send (``console_payloads``, ``console_actions``), goes through
``app.async_dispatch`` (the same listeners as production), and comes back as the Web API calls
the bot made (``console_feed``). ``ionbot console`` and ``ionbot simulate`` both drive
this class; only how lines arrive and how replies are shown differ. Scheduled jobs fire into the
world's report jobs (the same services serve uses, posting through the app's outbox); charts are
written to ``files_dir`` and the report shows their path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack
from datetime import date, datetime, time
from typing import Any, Self
from zoneinfo import ZoneInfo

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.console import payloads
from bot.console.actions import CardActions, Confirm, answer
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
from bot.console.ports import ConsoleWorld, OpenWorld, SessionOptions, WorldRequest
from bot.console.words import ConsoleError, Note, Output, Reply
from bot.engine.clock import SystemClock
from bot.engine.permissions import DEMO_TEAM, TeamMember
from bot.engine.ports import Clock, Event
from bot.scheduler import run_dates

DEFAULT_CHANNEL_NAME = "ion-rollout"
__all__ = ["ConsoleError", "Note", "Output", "Reply", "Session", "SessionOptions", "default_virtual_start"]


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
    """Use as ``async with Session(options, open_world) as session: reply = await session.send(line)``.

    ``open_world`` builds what the session plays against (the composition root's
    ``bot.bootstrap_console.ConsoleSession`` passes its own); the session drives it through
    ``self.world`` (bot/console/ports.py) and never builds the bot itself.
    """

    def __init__(self, options: SessionOptions, open_world: OpenWorld, confirm: Confirm | None = None) -> None:
        self.options = options
        self._open_world = open_world
        self.actions = CardActions(self, confirm)
        self._stack = AsyncExitStack()
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

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def _start(self) -> None:
        if person(self.options.user, self.team) is None:
            team = ", ".join(m.name for m in self.team)
            raise ConsoleError(f"There is no demo team member '{self.options.user}'; choose one of {team}.")
        clock: Clock = SteppedClock(self.options.start) if self.options.start is not None else SystemClock()
        self.world: ConsoleWorld = await self._open_world(WorldRequest(self.options, self.team, clock), self._stack)
        bot = self.world.bot
        self.where = self.world.where
        self.channel = self.where.channel_id
        self.files_dir = self.world.files_dir
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)
        self.feed = Feed(self.world.api, {m.user_id: m.name for m in self.team})
        bot.events.subscribe(self._note_production_done)
        self.started = await self._recover()
        if isinstance(clock, SteppedClock):
            self.clock = clock
            self.driver = JobDriver(
                bot,
                clock,
                self.world.jobs,
                self._settle_and_keep,
                watch_every=self.options.watch_every,
                watch_hours=self.options.watch_hours,
                close_watch=self.world.fault_near,
                on_fired=self._job_fired,
            )
        self._baseline = set(asyncio.all_tasks())

    async def _recover(self) -> list[Note]:
        """Executions a stopped console left running (Ctrl-C on ./ion.db) are reconciled before any line."""
        reconciled = await self.world.bot.rollout.recovery_pass()
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

    async def _job_fired(self, fired: Fired) -> None:
        """Keep what each job posted with the job, so reports can be written out as files."""
        entries = self.feed.take()
        self._job_outputs += entries
        self.job_log.append((fired, entries))

    async def _note_production_done(self, event: Event) -> None:
        """Keep every event; faults written 'after day2.1' start when that step's production lane is done."""
        self.events.append(event)
        await self.world.note_production_done(event)

    async def _settle_and_keep(self) -> None:
        """While time moves: settle, and keep what was said so far apart from what the next job says."""
        await self.settle()
        self._job_outputs += self.feed.take()

    async def settle(self) -> None:
        """Let the bot's background work (listeners, executions) finish or fall asleep on the clock."""
        await settle_tasks(self._baseline, self.clock, limit=10.0 if self.clock else 2.0)

    # --- sending lines ------------------------------------------------------------------------

    async def dispatch(self, body: str) -> BoltResponse:
        response = await self.world.app.async_dispatch(AsyncBoltRequest(body=body, headers=payloads.headers()))
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
        before = len(self.world.api.recorded)
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
        if len(self.world.api.recorded) == before and not reply.outputs:
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
        run = await self.world.bot.store.open_run(self.channel)
        start = (
            run.start_date
            if run
            else (self.options.run_start or self.world.bot.clock.now().astimezone(self.zone).date())
        )
        return run_dates(self.world.bot.runbook.calendar, start)[day - 1]

    async def _advance(self, line: AdvanceBy | AdvanceTo) -> list[Output]:
        if self.driver is None:
            return [Note("The clock is real, so it cannot be moved; start with --clock virtual to use advance.")]
        now = self.world.bot.clock.now()
        if isinstance(line, AdvanceBy):
            target = now + line.delta
        else:
            days = self.world.bot.runbook.calendar.working_days
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
        return self.world.bot.clock.now().astimezone(self.zone)


def default_virtual_start(zone: ZoneInfo, on: date = date(2026, 11, 2), at: time = time(8, 30)) -> datetime:
    """The documented default start of a virtual clock: Monday 2 Nov 2026, 08:30 in the runbook's zone."""
    return datetime.combine(on, at, zone)
