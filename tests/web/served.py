"""A stored run's timeline served from its own thread on 127.0.0.1, for tests that drive it synchronously
(a browser, plain HTTP): the bot is built once on the stored database, on a virtual clock, and the
gate in front of the pages can be swapped per test (open local, Slack sign-in, IAP)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from datetime import date, datetime
from typing import Any, TypeVar

from aiohttp import web

from bot import bootstrap
from bot.bootstrap import Bot
from bot.config import load_settings
from bot.engine.clock import VirtualClock
from bot.web.access import Gate
from bot.web.mount import WebView, add_routes
from bot.web.routes import WebDeps

T = TypeVar("T")


class Served:
    def __init__(
        self, database_url: str, now: datetime, faults: list[str] | None = None, run_start: date | None = None
    ) -> None:
        self.database_url = database_url
        self.faults = faults
        self.run_start = run_start
        self.clock = VirtualClock(now)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="timeline-served", daemon=True)
        self.view = WebView()
        self.base_url = ""
        self.bot: Bot | None = None
        self._runner: web.AppRunner | None = None

    def call(self, work: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return future.result(timeout)

    def start(self) -> Served:
        self.thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        settings = load_settings(ION_DATABASE_URL=self.database_url)
        self.bot = await bootstrap.build(settings, clock=self.clock, faults=self.faults, run_start=self.run_start)
        self.deps = bootstrap.web_deps(self.bot, local=True)
        self.view.open(self.deps)
        app = web.Application()
        add_routes(app, self.view)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def use_gate(self, gate: Gate) -> None:
        self.view.open(WebDeps(self.deps.timelines, self.deps.pages, gate))

    def stop(self) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self.bot is not None:
            await self.bot.close()
