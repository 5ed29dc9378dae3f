"""What the console reads from the world the composition root builds for it (bot/bootstrap_console.py).

The console drives a bot it does not build: the fake Slack, the wired bot, the Bolt app and the
report jobs come from the composition root and are seen here only through these protocols, so
nothing under bot/console imports the bootstrap, the store or the sim.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.console.payloads import Where
from bot.engine.permissions import TeamMember
from bot.engine.ports import Clock, Event
from bot.engine.records import Run
from bot.engine.rollout import Rollout
from bot.reports.ports import ClaimStore
from bot.runbook.models import Runbook
from bot.scheduler import ScheduleCallbacks

if TYPE_CHECKING:
    from slack_bolt.app.async_app import AsyncApp

    from bot.web.routes import WebDeps

JSONDict = dict[str, Any]
Listener = Callable[[Event], Awaitable[None]]


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


class RecordedCall(Protocol):
    """One Web API call the bot made (or a reply it POSTed to a response_url)."""

    @property
    def method(self) -> str: ...

    @property
    def payload(self) -> JSONDict: ...


class SlackRecord(Protocol):
    """The fake Slack as the console reads it: every answered call, oldest first, and each posted
    message's newest payload by (channel, ts), in posting order."""

    @property
    def recorded(self) -> Sequence[RecordedCall]: ...

    @property
    def messages(self) -> Mapping[tuple[str, str], JSONDict]: ...


class EventSubscriptions(Protocol):
    def subscribe(self, listener: Listener) -> None: ...


class RunStore(ClaimStore, Protocol):
    """The runs the job driver schedules, and the claims its scheduler takes per post."""

    async def open_run(self, channel: str) -> Run | None: ...

    async def open_runs(self) -> list[Run]: ...


class ConsoleBot(Protocol):
    """The parts of the wired bot the session and the job driver read."""

    @property
    def runbook(self) -> Runbook: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def rollout(self) -> Rollout: ...

    @property
    def events(self) -> EventSubscriptions: ...

    @property
    def store(self) -> RunStore: ...


class ConsoleWorld(Protocol):
    """Everything a session plays against, started and owned by the exit stack it was opened on."""

    @property
    def bot(self) -> ConsoleBot: ...

    @property
    def api(self) -> SlackRecord: ...

    @property
    def app(self) -> AsyncApp: ...

    @property
    def jobs(self) -> ScheduleCallbacks: ...

    @property
    def where(self) -> Where: ...

    @property
    def files_dir(self) -> Path: ...

    def fault_near(self, at: datetime) -> bool:
        """A fault is active, or ended less than half an hour ago (the triggers are watched closely)."""
        ...

    async def note_production_done(self, event: Event) -> None:
        """Tell the sim world a step's production lane finished (faults written 'after dayN.M')."""
        ...

    def local_timeline(self) -> WebDeps:
        """The read-only web timeline's deps, with the open local gate (127.0.0.1, no sign-in)."""
        ...

    def timeline_served_at(self, url: str) -> None:
        """Cards and reports link to the timeline at ``url`` from now on."""
        ...


@dataclass(frozen=True)
class WorldRequest:
    """What the session asks for: its options, its team, and the clock it moves."""

    options: SessionOptions
    team: tuple[TeamMember, ...]
    clock: Clock


OpenWorld = Callable[[WorldRequest, AsyncExitStack], Awaitable[ConsoleWorld]]
