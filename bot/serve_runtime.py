"""`ionbot serve`'s scheduled jobs and on-demand reports, built once the first answers are out.

The Runtime (bot/runtime.py) brings APScheduler (whose scheduler scans every installed package's
entry points when it is imported) and the report services (bot/reports): 30-40 ms of a start's
CPU, which no answer but a report's needs. ``DeferredRuntime`` builds it the first time
something needs it: serve starting the jobs (after the requests that waited for the bot are
answered), a report command, or an event its jobs listen to, whichever comes first. Until then a
placeholder keeps the jobs' place among the event bus's listeners, so every event reaches them,
in the same order, as if they had been built at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from bot.engine.ports import Actor, Event
from bot.heap import import_all
from bot.slack.deps import ReportsPort

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.bootstrap import Bot
    from bot.config import Settings
    from bot.runtime import Runtime
    from bot.slack.delivery.outbox import Outbox

Listener = Callable[[Event], Awaitable[None]]
# What serve's Runtime imports, loaded in a worker thread before it is built.
RUNTIME_MODULES = ("bot.runtime", "bot.reports.render", "bot.slack.delivery.report_poster")


def deferred_runtime(settings: Settings, bot: Bot, outbox: Outbox, client: AsyncWebClient) -> DeferredRuntime:
    """serve's Runtime, to be built at its first use; its place among ``bot``'s event listeners is
    taken now (call this where serve built the Runtime at once: before the Slack app subscribes)."""
    return DeferredRuntime(bot.events, partial(_runtime, settings, bot, outbox, client), RUNTIME_MODULES)


def _runtime(settings: Settings, bot: Bot, outbox: Outbox, client: AsyncWebClient) -> Runtime:
    """The scheduled jobs and the reports, posting through ``outbox`` (charts through ``client``)."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from bot.reports.render import ReportRenderer
    from bot.runtime import Runtime
    from bot.slack.delivery.report_poster import SlackReportPoster

    poster = SlackReportPoster(outbox, client)
    return Runtime(bot, poster, AsyncIOScheduler(), renderer=ReportRenderer(settings.templates_dir))


class Jobs(Protocol):
    """What serve uses of bot.runtime.Runtime."""

    @property
    def reports(self) -> ReportsPort: ...

    async def start(self) -> Any: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...


class Bus(Protocol):
    """The bot's event bus (bot/bootstrap_cloud.py ``EventBus``), as the placeholder needs it."""

    def subscribe(self, listener: Listener) -> None: ...

    def in_place_of(self, placeholder: Listener) -> AbstractContextManager[list[Listener]]: ...

    async def deliver(self, listener: Listener, event: Event) -> None: ...


class DeferredRuntime:
    """The Runtime, built by ``build`` at its first use; ``modules`` are imported first, in a worker
    thread, so building it never stalls the loop for their import. Subscribe it to ``events`` where
    the Runtime's own subscriptions belong (it does so on construction)."""

    def __init__(self, events: Bus, build: Callable[[], Jobs], modules: Iterable[str] = ()) -> None:
        self._events = events
        self._build = build
        self._modules = tuple(modules)
        self._built: Jobs | None = None
        self._lock = asyncio.Lock()
        self._heard: list[Listener] = []  # what the Runtime subscribed, in the placeholder's place
        self.reports: ReportsPort = DeferredReports(self.get)
        events.subscribe(self._placeholder)

    @property
    def built(self) -> Jobs | None:
        return self._built

    async def get(self) -> Jobs:
        """The Runtime, built now if nobody needed it before."""
        async with self._lock:
            if self._built is None:
                await asyncio.to_thread(import_all, self._modules)
                with self._events.in_place_of(self._placeholder) as heard:
                    built = self._build()
                self._heard, self._built = heard, built
        return self._built

    async def _placeholder(self, event: Event) -> None:
        """An event that came before the Runtime was built: build it, then pass the event on to
        what it subscribed (from then on they are in the bus themselves)."""
        await self.get()
        for listener in self._heard:
            await self._events.deliver(listener, event)

    async def start(self) -> None:
        await (await self.get()).start()

    async def stop(self) -> None:
        if self._built is not None:
            await self._built.stop()

    async def ready(self) -> bool:
        """Not ready until built (and then the Runtime's own answer: the jobs can fire)."""
        return self._built is not None and await self._built.ready()


class DeferredReports:
    """The Slack app's ``ReportsPort`` while the Runtime may not be built yet: each call builds it
    (once) and goes to its reports."""

    def __init__(self, runtime: Callable[[], Awaitable[Jobs]]) -> None:
        self._runtime = runtime

    async def _reports(self) -> ReportsPort:
        return (await self._runtime()).reports

    async def daily_report(self, channel: str, day: int | None, actor: Actor) -> None:
        await (await self._reports()).daily_report(channel, day, actor)

    async def standup(self, channel: str, actor: Actor) -> None:
        await (await self._reports()).standup(channel, actor)

    async def metrics(self, channel: str, actor: Actor) -> dict[str, Any]:
        return await (await self._reports()).metrics(channel, actor)

    async def record_cost(self, channel: str, service: str, amount: Any, actor: Actor) -> str:
        return await (await self._reports()).record_cost(channel, service, amount, actor)

    async def record(self, channel: str, item: str, value: str, note: str | None, actor: Actor) -> str:
        return await (await self._reports()).record(channel, item, value, note, actor)

    async def scaling(self, channel: str, actor: Actor) -> str:
        return await (await self._reports()).scaling(channel, actor)
